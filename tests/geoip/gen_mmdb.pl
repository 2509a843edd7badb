#!/usr/bin/perl
# gen_mmdb.pl - writes trailhound's small test GeoIP databases from the text sources beside
# this script, with Debian's libmaxmind-db-writer-perl (MaxMind::DB::Writer::Tree):
#
#   trailhound-City-Test.mmdb     from city.tsv, database_type GeoLite2-City
#   trailhound-ASN-Test.mmdb      from asn.tsv,  database_type GeoLite2-ASN
#   trailhound-Country-Test.mmdb  from city.tsv, database_type GeoLite2-Country (country and
#                                 continent only): the wrong type, for the tests that a
#                                 Country database is refused where a City one is wanted
#
# usage: gen_mmdb.pl [OUTDIR]        (default: this script's directory)
#
# The layout is MaxMind's: record size 28, IPv6 tree with IPv4 mapped (::/96, aliased from
# ::ffff:0:0/96), English names only. Reserved networks are kept (remove_reserved_networks
# off): the tests want documentation and private ranges in the database. The output is
# byte-for-byte reproducible: the build epoch is fixed and map keys are written sorted, so
# tests/cli/test_geoip.sh regenerates the files and compares them with the committed ones.
use strict;
use warnings;
use utf8;
use File::Basename qw(dirname);
use MaxMind::DB::Writer::Tree;

my $src = dirname(__FILE__);
my $out = shift(@ARGV) // $src;
die "usage: gen_mmdb.pl [OUTDIR]\n" if @ARGV;

# 2024-01-01T00:00:00Z: a fixed build time, so the bytes never depend on the day.
my $BUILD_EPOCH = 1704067200;

my %types = (
    accuracy_radius                => 'uint16',
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
    city                           => 'map',
    code                           => 'utf8_string',
    continent                      => 'map',
    country                        => 'map',
    en                             => 'utf8_string',
    iso_code                       => 'utf8_string',
    latitude                       => 'double',
    location                       => 'map',
    longitude                      => 'double',
    names                          => 'map',
    registered_country             => 'map',
    subdivisions                   => [ 'array', 'map' ],
);

sub key_type {
    my $k = shift;
    return $types{$k} // die "gen_mmdb.pl: no type for key '$k'\n";
}

# Reads a TSV source: skips comments and blank lines, returns [line number, fields...].
sub read_tsv {
    my ( $file, $min, $max ) = @_;
    open my $fh, '<:encoding(UTF-8)', $file or die "gen_mmdb.pl: $file: $!\n";
    my @rows;
    while ( my $line = <$fh> ) {
        chomp $line;
        next if $line =~ /^\s*(#|$)/;
        my @f = split /\t/, $line, -1;
        die "gen_mmdb.pl: $file:$.: want $min to $max tab-separated fields, got "
            . scalar(@f) . "\n"
            if @f < $min || @f > $max;
        push @rows, \@f;
    }
    close $fh;
    return @rows;
}

sub new_tree {
    my ( $type, $desc ) = @_;
    my $tree = MaxMind::DB::Writer::Tree->new(
        ip_version               => 6,
        record_size              => 28,
        database_type            => $type,
        languages                => ['en'],
        description              => { en => $desc },
        alias_ipv6_to_ipv4       => 1,
        remove_reserved_networks => 0,
        map_key_type_callback    => \&key_type,
    );
    $tree->_set_build_epoch($BUILD_EPOCH);
    return $tree;
}

sub write_tree {
    my ( $tree, $name ) = @_;
    my $path = "$out/$name";
    open my $fh, '>:raw', "$path.tmp" or die "gen_mmdb.pl: $path.tmp: $!\n";
    $tree->write_tree($fh);
    close $fh or die "gen_mmdb.pl: $path.tmp: $!\n";
    rename "$path.tmp", $path or die "gen_mmdb.pl: $path: $!\n";
}

my @city = read_tsv( "$src/city.tsv", 9, 10 );
my $city = new_tree( 'GeoLite2-City', 'trailhound test City database (tests/geoip/city.tsv)' );
my $country =
    new_tree( 'GeoLite2-Country', 'trailhound test Country database (tests/geoip/city.tsv)' );
for my $f (@city) {
    my ( $net, $iso, $cname, $cont, $sub, $cityname, $lat, $lon, $acc, $reg ) = @$f;
    my %rec;
    my %c;
    $c{iso_code} = $iso           if length $iso;
    $c{names}    = { en => $cname } if length $cname;
    $rec{ ( $reg // '' ) eq 'registered' ? 'registered_country' : 'country' } = \%c if %c;
    $rec{continent}    = { code => $cont }                  if length $cont;
    $rec{subdivisions} = [ { names => { en => $sub } } ]    if length $sub;
    $rec{city}         = { names => { en => $cityname } }   if length $cityname;
    my %loc;
    if ( length $lat && length $lon ) {
        $loc{latitude}  = 0 + $lat;
        $loc{longitude} = 0 + $lon;
    }
    $loc{accuracy_radius} = 0 + $acc if length $acc;
    $rec{location} = \%loc if %loc;
    $city->insert_network( $net, \%rec );

    my %crec = map { $_ => $rec{$_} } grep { exists $rec{$_} }
        qw(country registered_country continent);
    $country->insert_network( $net, \%crec ) if %crec;
}
write_tree( $city,    'trailhound-City-Test.mmdb' );
write_tree( $country, 'trailhound-Country-Test.mmdb' );

my @asn = read_tsv( "$src/asn.tsv", 3, 3 );
my $asn = new_tree( 'GeoLite2-ASN', 'trailhound test ASN database (tests/geoip/asn.tsv)' );
for my $f (@asn) {
    my ( $net, $num, $org ) = @$f;
    $asn->insert_network(
        $net,
        {
            autonomous_system_number       => 0 + $num,
            autonomous_system_organization => $org,
        }
    );
}
write_tree( $asn, 'trailhound-ASN-Test.mmdb' );
