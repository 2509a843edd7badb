#!/bin/sh
# run_all.sh [SECONDS] - builds the libFuzzer targets (clang, -DTH_FUZZ=ON) and runs each
# for a bounded time, failing on any crash, leak, timeout or out-of-memory.
#
#   SECONDS     per target (default 60; env FUZZ_SECONDS also works)
#   FUZZ_JOBS   targets run at once (default: the number of cores, at most 2)
#   FUZZ_BUILD  the build directory (default build-fuzz in the tree)
#   FUZZ_ONLY   a space-separated list of targets (default: all that were built)
#
# Seeds come from tests/fuzz/make_corpus.sh (the fixtures, golden cases and rules) and the
# committed tests/fuzz/seeds; the corpus grows in $FUZZ_BUILD/corpus/<target> across runs.
# A crash leaves its input as $FUZZ_BUILD/artifacts/<target>/crash-* (also leak-, timeout-,
# oom-); copy it into tests/fuzz/regressions/<target>/ with a name saying what it was once
# the bug is fixed, so that ctest replays it forever after. Exit 0 when every target ran
# its time cleanly.
set -eu
cd "$(dirname "$0")/../.."
src=$(pwd)
secs=${1:-${FUZZ_SECONDS:-60}}
build=${FUZZ_BUILD:-$src/build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
[ "$jobs" -gt 2 ] && jobs=2

if ! command -v clang >/dev/null 2>&1; then
    echo "run_all: clang is needed (tests/setup.sh installs it)" >&2
    exit 2
fi
CC=clang cmake -S "$src" -B "$build" -DTH_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# The targets fuzz.cmake names (its set() and list(APPEND) lines) whose source is there.
if [ -n "${FUZZ_ONLY:-}" ]; then
    targets=$FUZZ_ONLY
else
    targets=""
    for t in $(sed -n 's/^set(TH_FUZZ_NAMES \(.*\))$/\1/p
                      s/^ *list(APPEND TH_FUZZ_NAMES \([a-z_]*\)).*/\1/p' tests/fuzz/fuzz.cmake); do
        f=tests/fuzz/fuzz_$t.c
        case $t in rule_*) f=tests/fuzz/fuzz_rule.c ;; config) [ -f engine/config.c ] || continue ;; esac
        [ -f "$f" ] && targets="$targets $t"
    done
fi
build_targets=""
for t in $targets; do build_targets="$build_targets fuzz_$t"; done
# shellcheck disable=SC2086 # a list of targets
cmake --build "$build" -j"$jobs" --target $build_targets >/dev/null
sh tests/fuzz/make_corpus.sh "$src" "$build/corpus" >/dev/null

dict_of() {
    case $1 in
    reader | jscan) echo json ;;
    query) echo query ;;
    template) echo template ;;
    rule_*) echo rule ;;
    config) echo config ;;
    *) echo "" ;;
    esac
}

# Runs one target; its log goes to $build/logs/<target>.log.
run_one() { # TARGET
    t=$1
    mkdir -p "$build/artifacts/$t" "$build/logs" "$build/corpus/$t"
    d=$(dict_of "$t")
    dict=""
    [ -n "$d" ] && [ -f "tests/fuzz/dict/$d.dict" ] && dict="-dict=tests/fuzz/dict/$d.dict"
    maxlen=4096
    case $t in reader | jscan | rule_*) maxlen=16384 ;; esac
    status=0
    # shellcheck disable=SC2086 # dict is empty or one flag
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/fuzz_$t" "$build/corpus/$t" $dict \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" \
        -artifact_prefix="$build/artifacts/$t/" -print_final_stats=1 \
        >"$build/logs/$t.log" 2>&1 || status=$?
    if [ "$status" = 0 ]; then
        echo "run_all: $t: ok, $(grep -o 'stat::number_of_executed_units: *[0-9]*' \
            "$build/logs/$t.log" | grep -o '[0-9]*$') runs in ${secs}s"
    else
        echo "run_all: $t: FAILED (exit $status); see $build/logs/$t.log and $build/artifacts/$t/" >&2
        grep -E 'ERROR|SUMMARY|==[0-9]+==|fuzz_' "$build/logs/$t.log" | head -20 >&2
        return 1
    fi
}

fail=0
set -- $targets
while [ $# -gt 0 ]; do
    pids=""
    i=0
    while [ $# -gt 0 ] && [ $i -lt "$jobs" ]; do
        run_one "$1" &
        pids="$pids $!"
        shift
        i=$((i + 1))
    done
    for p in $pids; do
        wait "$p" || fail=1
    done
done
if [ "$fail" != 0 ]; then
    echo "run_all: some fuzz target failed" >&2
    exit 1
fi
echo "run_all: every target ran ${secs}s without a finding"
