#!/bin/sh
# valgrind.sh [BUILD_DIR] - memory checks without sanitizers: builds trailhound plainly
# (Debug, no ASan/UBSan: valgrind cannot run sanitized binaries) and runs, once each, under
# valgrind memcheck (--leak-check=full --error-exitcode=1):
#   - the CLI tests named in $VALGRIND_TESTS (default: the seven that take under two
#     minutes each under valgrind; README, "Memory checks", tells about the others); each
#     trailhound invocation of a test goes through valgrind, a wrapper given as $TRAILHOUND;
#   - every golden engine case (tests/golden/run_case.sh);
#   - every fuzz target over its committed seeds and regressions (tests/fuzz), which
#     replays each crasher ever found.
# valgrind finds what the sanitizers do not: reads of uninitialised memory. A run passes
# when every test passes and every valgrind log is empty: no invalid access, no use of
# uninitialised values, no leak (definite, indirect or possible), in any process. Logs are
# kept in BUILD_DIR/valgrind-logs, one per process. Two lanes run at once; about 4 minutes
# on 2 cores, the build included. Regexes run without PCRE2's JIT here (see below), and
# tests/valgrind.supp suppresses the one report of a process killed by SIGPIPE.
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)
build=${1:-$src/build-valgrind}
tests=${VALGRIND_TESTS:-test_commands test_hunt test_geoip test_rule_tests test_coverage test_sample test_kafka}

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind.sh: valgrind is not installed (tests/setup.sh installs it)" >&2
    exit 2
fi
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTH_ASAN=OFF -DTH_UBSAN=OFF \
    -DTH_FUZZ=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

logs="$build/valgrind-logs"
rm -rf "$logs"
mkdir -p "$logs"
vg="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 --num-callers=30
    --suppressions=$src/tests/valgrind.supp
    --log-file=$logs/%p.log"
# PCRE2's JIT code reads 16 aligned bytes at a time, past a subject's end within a page;
# valgrind reports each such read. Regexes run in PCRE2's interpreter here (the JIT path
# runs under ASan in tests/check.sh).
TRAILHOUND_PCRE2_JIT=0
export TRAILHOUND_PCRE2_JIT
wrapper="$build/trailhound-valgrind"
cat >"$wrapper" <<EOF
#!/bin/sh
exec $(echo "$vg" | tr '\n' ' ') "$build/trailhound" "\$@"
EOF
chmod +x "$wrapper"

note() { echo "valgrind.sh: $*"; }

# Two lanes at once (the machine's cores are mostly idle under valgrind otherwise): half
# the CLI tests; and the golden cases, the fuzz replays and the other half. Each lane
# writes a summary file.
cli_lane() { # TEST...
    for t in "$@"; do
        f="$src/tests/cli/$t.sh"
        if [ ! -f "$f" ]; then
            note "$t: no such CLI test"
            echo fail >"$logs/lane.fail"
            continue
        fi
        if TRAILHOUND="$wrapper" TH_SRC="$src" GEN_SAMPLE="$build/gen_sample" \
            TH_HOSTILE_TIMEOUT=600 sh "$f" >"$logs/$t.out" 2>&1; then
            note "$t: $(tail -n 1 "$logs/$t.out")"
        else
            note "$t: FAILED: $(tail -n 1 "$logs/$t.out") (see $logs/$t.out)"
            echo fail >"$logs/lane.fail"
        fi
    done
}
replay_lane() {
    n=0
    for d in "$src"/tests/golden/cases/*/; do
        if ! sh "$src/tests/golden/run_case.sh" "$wrapper" "${d%/}" >"$logs/golden.out" 2>&1; then
            note "golden $(basename "$d"): FAILED: $(tail -n 3 "$logs/golden.out")"
            echo fail >"$logs/lane.fail"
        fi
        n=$((n + 1))
    done
    note "golden cases: $n run"
    for bin in "$build"/fuzz_*; do
        [ -x "$bin" ] || continue
        t=${bin##*/fuzz_}
        set --
        for sub in seeds regressions; do
            [ -d "$src/tests/fuzz/$sub/$t" ] && set -- "$@" "$src/tests/fuzz/$sub/$t"
        done
        [ $# -gt 0 ] || continue
        # shellcheck disable=SC2086 # vg is a list of words
        if $vg "$bin" "$@" >"$logs/fuzz_$t.out" 2>&1; then
            note "fuzz_$t: $(tail -n 1 "$logs/fuzz_$t.out")"
        else
            note "fuzz_$t: FAILED (see $logs/fuzz_$t.out)"
            echo fail >"$logs/lane.fail"
        fi
    done
}
lane1="" lane2="" i=0
for t in $tests; do
    if [ $((i % 2)) = 0 ]; then lane1="$lane1 $t"; else lane2="$lane2 $t"; fi
    i=$((i + 1))
done
# shellcheck disable=SC2086 # lists of test names
cli_lane $lane1 >"$logs/cli.lane" 2>&1 &
cli_pid=$!
# shellcheck disable=SC2086
{ replay_lane; cli_lane $lane2; } >"$logs/replay.lane" 2>&1
wait "$cli_pid" || true
cat "$logs/cli.lane" "$logs/replay.lane"
fail=0
[ -f "$logs/lane.fail" ] && fail=1

# Any non-empty log is an error, whatever the exit status of its process was.
nlogs=0
for l in "$logs"/*.log; do
    [ -f "$l" ] || continue
    nlogs=$((nlogs + 1))
    if [ -s "$l" ]; then
        note "memcheck report in $l:"
        head -n 40 "$l"
        fail=1
    fi
done
note "$nlogs processes checked"
if [ "$fail" != 0 ]; then
    note "FAILED"
    exit 1
fi
note "no error, no leak"
