#!/bin/sh
# test_geoip.sh - GeoIP and ASN through the real binary: the test databases regenerate
# byte-identical from their text sources, hunt on geoip/asn attributes, --geoip/--asn
# errors (missing, broken, wrong type) as one line with exit 2, damage found at lookup time
# is survived, rules that need a database are disabled with one warning each when it is
# missing and run when it is there, and the search of the usual places
# ($TRAILHOUND_GEOIP_DIRS here, so the machine's own databases never matter).
. "$(dirname "$0")/lib.sh"
G="$TH_SRC/tests/geoip"
CITY="$G/trailhound-City-Test.mmdb"
ASN="$G/trailhound-ASN-Test.mmdb"
COUNTRY="$G/trailhound-Country-Test.mmdb"
# No database from the machine: only what each test passes or puts in a directory.
TRAILHOUND_GEOIP_DIRS=""
export TRAILHOUND_GEOIP_DIRS

# --- The committed databases are what gen_mmdb.pl writes from the .tsv sources. --------
if perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null; then
    mkdir "$TMP/gen"
    if perl "$G/gen_mmdb.pl" "$TMP/gen" 2>"$TMP/gen.err"; then
        ok
        for f in trailhound-City-Test.mmdb trailhound-ASN-Test.mmdb trailhound-Country-Test.mmdb; do
            if cmp -s "$TMP/gen/$f" "$G/$f"; then ok; else
                bad "$f differs from what gen_mmdb.pl writes from the sources: regenerate it"
            fi
        done
    else
        bad "gen_mmdb.pl failed: $(cat "$TMP/gen.err")"
    fi
else
    bad "libmaxmind-db-writer-perl is missing (tests/setup.sh installs it)"
fi

# --- A small input: one event per kind of address. -------------------------------------
in="$TMP/events.ndjson"
ev() { # TIME IP EVENTNAME KEY
    printf '{"eventVersion":"1.08","eventTime":"2024-03-05T%sZ","eventSource":"s3.amazonaws.com","eventName":"%s","awsRegion":"us-east-1","sourceIPAddress":"%s","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/dave","accessKeyId":"%s"},"eventID":"id-%s","recipientAccountId":"111122223333"}\n' \
        "$1" "$3" "$2" "$4" "$1"
}
{
    ev 15:10:20 203.0.113.10 ListBuckets AKIASY6IMFLUMBL7RWPN
    ev 16:05:44 175.41.150.27 GetCallerIdentity AKIASY6IMFLUMBL7RWPN
    ev 16:06:10 175.41.150.27 ListBuckets AKIASY6IMFLUMBL7RWPN
    ev 16:07:00 "::ffff:175.41.150.27" ListBuckets AKIAOTHEROTHEROTHER1
    ev 16:08:00 2406:da18::7 ListBuckets AKIAOTHEROTHEROTHER1
    ev 16:09:00 185.220.101.34 ListBuckets AKIAOTHEROTHEROTHER1
    ev 16:10:00 "AWS Internal" AttachUserPolicy AKIAOTHEROTHEROTHER1
    ev 16:11:00 s3.amazonaws.com PutObject AKIAOTHEROTHEROTHER1
    ev 16:12:00 10.20.17.43 GetSecretValue AKIAOTHEROTHEROTHER1
    ev 16:13:00 8.8.8.8 ListBuckets AKIAOTHEROTHEROTHER1
    ev 16:14:00 1.1.1.1 ListBuckets AKIAOTHEROTHEROTHER1
} >"$in"

run_th hunt --count --geoip "$CITY" '@network.client.geoip.country.iso_code:SG' "$in"
expect_status 0 "hunt on the country"
expect_eq "$out" 4 "four events from Singapore (IPv4, IPv4-mapped, IPv6)"
run_th hunt --geoip "$CITY" '@network.client.geoip.city.name:"New York"' "$in"
expect_eq "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 1 "hunt prints the New York event"
expect_out_has '"sourceIPAddress":"203.0.113.10"' "the New York event in its original form"
run_th hunt --count --geoip "$CITY" '@network.client.geoip.location.latitude:>45' "$in"
expect_eq "$out" 1 "numeric comparison of a latitude (Germany)"
run_th hunt --count --geoip "$CITY" '@network.client.geoip.country.iso_code:*' "$in"
expect_eq "$out" 6 "located: every public address in the database, nothing else"
run_th hunt --count '@network.client.geoip.invalidAddress:"AWS Internal"' "$in"
expect_status 0 "invalidAddress needs no database"
expect_eq "$out" 2 "AWS Internal and a service name are not IP addresses"
run_th hunt --count --asn "$ASN" '@network.client.asn.number:16509' "$in"
expect_eq "$out" 4 "hunt on the AS number"
run_th hunt --count --asn "$ASN" '@network.client.asn.organization:CLOUDFLARE*' "$in"
expect_eq "$out" 1 "hunt on the AS organization (an address with no location)"
run_th hunt --count --geoip "$CITY" --asn "$ASN" \
    '@network.client.geoip.country.iso_code:DE @network.client.asn.number:64500' "$in"
expect_eq "$out" 1 "both databases at once"

# --- Errors: exit 2, one line, naming the file. ----------------------------------------
run_th hunt --count '@network.client.geoip.country.iso_code:SG' "$in"
expect_status 2 "a geoip query without a City database"
expect_err_has "need a GeoIP City database" "the query's need is named"
expect_one_line_err "a geoip query without a City database"
run_th hunt --count --geoip "$CITY" '@network.client.asn.number:1' "$in"
expect_status 2 "an asn query without an ASN database"
expect_err_has "need an ASN database (--asn FILE)" "the asn query's need is named"
run_th hunt --count --geoip "$TMP/missing.mmdb" '@evt.name:x' "$in"
expect_status 2 "a missing --geoip"
expect_err_has "$TMP/missing.mmdb: cannot open the GeoIP City database" "missing file named"
expect_err_has "No such file or directory" "the system's reason"
expect_one_line_err "a missing --geoip"
head -c 3000 "$CITY" >"$TMP/truncated.mmdb"
run_th hunt --count --geoip "$TMP/truncated.mmdb" '@evt.name:x' "$in"
expect_status 2 "a truncated --geoip"
expect_err_has "truncated.mmdb: cannot open the GeoIP City database: " "a broken file named"
expect_err_has "invalid metadata" "libmaxminddb's reason"
expect_one_line_err "a truncated --geoip"
rule="$TH_SRC/tests/golden/cases/clickops-verbatim/rule.yaml"
run_th run --geoip "$TMP/truncated.mmdb" -r "$rule" "$in"
expect_status 2 "run with a broken --geoip"
expect_one_line_err "run with a broken --geoip"
run_th hunt --count --geoip "$COUNTRY" '@evt.name:x' "$in"
expect_status 2 "a Country database as --geoip"
expect_err_has "'GeoLite2-Country' database is not a City database" "the type found is named"
expect_one_line_err "a Country database as --geoip"
run_th hunt --count --asn "$CITY" '@evt.name:x' "$in"
expect_status 2 "a City database as --asn"
expect_err_has "'GeoLite2-City' database is not an ASN database" "wrong ASN type"
run_th hunt --count --geoip "" '@evt.name:x' "$in"
expect_status 2 "an empty --geoip"

# Damage found at lookup time (the data section overwritten): counted, never a crash.
perl -e '
    local $/; open my $f, "<:raw", $ARGV[0] or die; my $d = <$f>;
    my $m = index($d, "\xab\xcd\xefMaxMind.com"); my $s = $ARGV[1] * 7 + 16;
    substr($d, $s, $m - $s) = "\xff" x ($m - $s); print $d;' \
    "$CITY" "$(mmdblookup -v -f "$CITY" -i 1.1.1.1 2>/dev/null | sed -n 's/.*Node count: *//p')" \
    >"$TMP/bad-data.mmdb" 2>"$TMP/perl.err"
if [ -s "$TMP/bad-data.mmdb" ] && ! cmp -s "$TMP/bad-data.mmdb" "$CITY"; then
    run_th hunt --count --geoip "$TMP/bad-data.mmdb" \
        '@network.client.geoip.country.iso_code:SG' "$in"
    expect_status 1 "a database damaged inside: nothing located, no crash"
    expect_eq "$out" 0 "no match through a damaged record"
else
    bad "could not make a damaged database: $(cat "$TMP/perl.err")"
fi

# --- Rules that need a database. --------------------------------------------------------
mkdir "$TMP/rules"
cat >"$TMP/rules/by-country.yaml" <<'EOF'
id: test-by-country
name: Calls from Singapore
tags: [source:cloudtrail]
queries:
  - query: '@network.client.geoip.country.iso_code:SG'
    group_by: ['@userIdentity.accessKeyId']
options:
  evaluation_window: 0
  keep_alive: 0
  max_signal_duration: 0
cases:
  - condition: a > 0
    status: high
message: '{{@userIdentity.accessKeyId}} from {{@network.client.geoip.city.name}}'
EOF
cat >"$TMP/rules/group-by-country.yaml" <<'EOF'
id: test-group-by-country
name: ListBuckets per country
tags: [source:cloudtrail]
queries:
  - query: '@evt.name:ListBuckets'
    group_by: ['@network.client.geoip.country.iso_code']
options:
  evaluation_window: 0
  keep_alive: 0
  max_signal_duration: 0
cases:
  - condition: a > 0
    status: low
EOF
cat >"$TMP/rules/by-asn.yaml" <<'EOF'
id: test-by-asn
name: Calls from AWS address space
tags: [source:cloudtrail]
queries:
  - query: '@network.client.asn.number:16509'
    group_by: ['@eventID']
options:
  evaluation_window: 0
  keep_alive: 0
  max_signal_duration: 0
cases:
  - condition: a > 0
    status: low
EOF
cat >"$TMP/rules/travel.yaml" <<'EOF'
id: test-travel
name: Impossible travel
tags: [source:cloudtrail]
queries:
  - query: '@userIdentity.accessKeyId:*'
    group_by: ['@userIdentity.accessKeyId']
    aggregation: geo_data
    fields: ['@network.client.ip']
options:
  detection_method: impossible_travel
cases:
  - status: high
EOF
cat >"$TMP/rules/internal.yaml" <<'EOF'
id: test-internal
name: Calls made by AWS
tags: [source:cloudtrail]
queries:
  - query: '@network.client.geoip.invalidAddress:"AWS Internal"'
    group_by: ['@eventID']
options:
  evaluation_window: 0
  keep_alive: 0
  max_signal_duration: 0
cases:
  - condition: a > 0
    status: info
EOF

run_th run -r "$TMP/rules" "$in"
expect_status 0 "run without databases"
for id in test-by-country test-group-by-country test-by-asn test-travel; do
    n=$(printf '%s\n' "$err" | grep -c "warning: rule $id: .*rule disabled")
    expect_eq "$n" 1 "one warning for $id"
done
w="it uses @network.client.geoip attributes, which need a GeoIP City database (--geoip FILE)"
expect_err_has "rule test-by-country: $w; rule disabled" "the warning says what is missing"
w="it uses @network.client.asn attributes, which need an ASN database (--asn FILE)"
expect_err_has "rule test-by-asn: $w; rule disabled" "the ASN warning"
expect_eq "$(printf '%s\n' "$err" | grep -c 'test-internal')" 0 "invalidAddress needs no database"
expect_eq "$(printf '%s\n' "$out" | grep -c '"id":"test-internal"')" 2 "the rule without needs ran"
expect_eq "$(printf '%s\n' "$out" | grep -c '"id":"test-by-country"')" 0 "the disabled rule is silent"

run_th run -r "$TMP/rules" --geoip "$CITY" --asn "$ASN" "$in"
expect_status 0 "run with both databases"
expect_eq "$(printf '%s\n' "$err" | grep -c 'test-by-country\|test-group-by-\|test-by-asn')" 0 \
    "no warning with the databases"
expect_eq "$(printf '%s\n' "$out" | grep -c '"id":"test-by-country"')" 4 \
    "one signal per event from SG (window 0)"
expect_out_has '"message":"AKIASY6IMFLUMBL7RWPN from Singapore"' "the template shows the city"
expect_out_has '"group":{"@network.client.geoip.country.iso_code":"SG"}' "group by country"
expect_out_has '"group":{"@network.client.geoip.country.iso_code":"US"}' "group by country (US)"
expect_eq "$(printf '%s\n' "$out" | grep -c '"id":"test-by-asn"')" 4 "the ASN rule ran"
run_th run -r "$TMP/rules" --geoip "$CITY" --asn "$ASN" "$in"
cp "$TMP/out" "$TMP/out1"
run_th run -r "$TMP/rules" --geoip "$CITY" --asn "$ASN" "$in"
if cmp -s "$TMP/out" "$TMP/out1"; then ok; else bad "two runs with GeoIP differ"; fi

# --- The search of the usual places. ------------------------------------------------------
mkdir "$TMP/d1" "$TMP/d2"
cp "$COUNTRY" "$TMP/d1/dbip-city-lite-2024-01.mmdb"
cp "$CITY" "$TMP/d1/dbip-city-lite-2024-03.mmdb"
cp "$COUNTRY" "$TMP/d2/GeoLite2-City.mmdb"
cp "$ASN" "$TMP/d2/dbip-asn-lite-2024-03.mmdb"
TRAILHOUND_GEOIP_DIRS="$TMP/d1:$TMP/d2"
run_th hunt --count '@network.client.geoip.country.iso_code:SG' "$in"
expect_status 2 "GeoLite2-City.mmdb in any directory comes before dbip-city-lite"
expect_err_has "$TMP/d2/GeoLite2-City.mmdb: a 'GeoLite2-Country' database" "the found file is named"
rm "$TMP/d2/GeoLite2-City.mmdb"
run_th hunt --count \
    '@network.client.geoip.country.iso_code:SG @network.client.asn.number:16509' "$in"
expect_status 0 "the newest dbip-city-lite, and dbip-asn-lite, are found"
expect_eq "$out" 4 "found databases are used"
run_th hunt --count --no-geoip '@network.client.geoip.country.iso_code:SG' "$in"
expect_status 2 "--no-geoip searches nothing"
run_th hunt --count --no-geoip --geoip "$CITY" '@network.client.geoip.country.iso_code:SG' "$in"
expect_eq "$out" 4 "--no-geoip keeps an explicit --geoip"
run_th hunt --count --geoip "$COUNTRY" '@evt.name:x' "$in"
expect_status 2 "--geoip wins over the search"
chmod 000 "$TMP/d1/dbip-city-lite-2024-03.mmdb"
if [ "$(id -u)" != 0 ]; then
    run_th hunt --count '@network.client.geoip.country.iso_code:SG' "$in"
    expect_err_has "$TMP/d1/dbip-city-lite-2024-01.mmdb" "an unreadable file is passed over"
fi
chmod 644 "$TMP/d1/dbip-city-lite-2024-03.mmdb"
TRAILHOUND_GEOIP_DIRS="$TMP/none:$TMP/d1"
run_th hunt --count '@network.client.geoip.country.iso_code:SG' "$in"
expect_eq "$out" 4 "a missing directory in the list is skipped"
TRAILHOUND_GEOIP_DIRS=""

# --- help documents the options and the search order. ------------------------------------
run_th run --help
expect_out_has "--geoip FILE" "run --help lists --geoip"
expect_out_has "/usr/share/GeoIP" "run --help names the search order"
run_th hunt --help
expect_out_has "--asn FILE" "hunt --help lists --asn"
finish
