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
./build/trailhound run --stats -r rules build/sample
