#!/bin/sh
# check.sh - the README's second command: set up, build from scratch with AddressSanitizer
# and UndefinedBehaviorSanitizer, lint the shipped rules, and run the whole test suite.
set -eu
cd "$(dirname "$0")/.."
sh tests/setup.sh
rm -rf build-check
cmake -S . -B build-check -DCMAKE_BUILD_TYPE=Debug -DTH_ASAN=ON -DTH_UBSAN=ON >/dev/null
cmake --build build-check -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
./build-check/trailhound lint rules
cd build-check
ctest --output-on-failure -j"$(nproc)"
