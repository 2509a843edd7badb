#!/bin/sh
# demo.sh - the README's first command: set up, build, generate the bundled sample archive
# (CloudTrail's S3 layout, three accounts and regions, two days) and replay it with the
# shipped rules, printing the signals on stdout and the counters on stderr.
set -eu
cd "$(dirname "$0")/.."
sh tests/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
./build/gen_sample build/sample
# The sample's GeoIP and ASN databases, from tests/geoip/*.tsv (the same bytes as the
# committed tests/geoip/*.mmdb): they place the sample's addresses, so location-based
# rules (impossible travel, new country) work with no download.
mkdir -p build/geoip
perl tests/geoip/gen_mmdb.pl build/geoip
./build/trailhound run --stats -r rules --geoip build/geoip/trailhound-City-Test.mmdb \
    --asn build/geoip/trailhound-ASN-Test.mmdb build/sample
