#!/bin/sh
# run.sh - the benchmark (SPEC §15), in one run: builds trailhound in Release, generates
# deterministic traffic (tests/bench/gen_bench.c) once, then times trailhound and the
# baselines side by side and prints events/s and the ratios against the targets:
#
#   hunt, a selective query        vs  jq with the same filter            (target >= 20x)
#   run, the whole pack, 1 thread  vs  a json-c parse-only floor          (target >= 1.5x)
#   run --threads 2                vs  run --threads 1, same output       (target >= 1.7x;
#                                      PAIR_RUNS runs of each, default 5, in turns)
#   replaying gzipped S3 objects   vs  zcat > /dev/null                   (target >= 0.8x)
#   peak memory: a stateless replay (target <= 64 MiB) and the state of one million
#   principals (target <= 512 MiB)
#
#   sh tests/bench/run.sh [EVENTS]      (default 1000000; data kept in build-bench/data-N)
#
# Times are wall-clock medians of RUNS runs (default 3): hyperfine when installed, else a
# plain loop (one thread against two: always the loop, in turns). Benchmarks print
# figures; they never fail on timing (exit 0 unless something could not run, or an output
# check failed).
set -eu
cd "$(dirname "$0")/../.."
EVENTS=${1:-1000000}
RUNS=${RUNS:-3}
PAIR_RUNS=${PAIR_RUNS:-5} # one thread against two: a ratio of two timings, so more runs
BUILD=${BUILD:-build-bench}
DATA="$BUILD/data-$EVENTS"

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target trailhound gen_bench jsonc_floor >/dev/null
TH="$BUILD/trailhound"
if [ ! -f "$DATA/done" ]; then
    rm -rf "$DATA"
    echo "generating $EVENTS events into $DATA ..." >&2
    "$BUILD/gen_bench" "$DATA" --events "$EVENTS"
    "$BUILD/gen_bench" --principals 1000000 "$DATA/principals.ndjson"
    touch "$DATA/done"
fi
ND="$DATA/events.ndjson"
S3="$DATA/s3"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# wall_time COMMAND: runs COMMAND (sh -c, output dropped) and prints its wall time in s.
wall_time() {
    t0=$(date +%s.%N)
    sh -c "$1" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

# median FILE: the median of the numbers in FILE, one per line.
median() {
    sort -n "$1" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# median_time NAME COMMAND: the median wall time of RUNS runs of COMMAND (sh -c), in s.
median_time() {
    name=$1
    cmd=$2
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine --runs "$RUNS" --warmup 1 --style none --export-json "$OUT/$name.json" \
            "$cmd" >/dev/null 2>&1
        jq -r '.results[0].median' "$OUT/$name.json"
        return
    fi
    sh -c "$cmd" >/dev/null 2>&1 || true # warm-up (page cache)
    i=0
    : >"$OUT/$name.times"
    while [ "$i" -lt "$RUNS" ]; do
        wall_time "$cmd" >>"$OUT/$name.times"
        i=$((i + 1))
    done
    median "$OUT/$name.times"
}

# median_pair NAME CMD_A CMD_B: the median wall times of CMD_A and of CMD_B, "A B" in s,
# from PAIR_RUNS runs of each taken in turns (A B A B ...), so that whatever else the host
# is doing meanwhile slows both alike instead of one of them: their ratio is the figure.
median_pair() {
    name=$1
    sh -c "$2" >/dev/null 2>&1 || true # warm-up (page cache)
    sh -c "$3" >/dev/null 2>&1 || true
    : >"$OUT/$name.a"
    : >"$OUT/$name.b"
    i=0
    while [ "$i" -lt "$PAIR_RUNS" ]; do
        wall_time "$2" >>"$OUT/$name.a"
        wall_time "$3" >>"$OUT/$name.b"
        i=$((i + 1))
    done
    echo "$(median "$OUT/$name.a") $(median "$OUT/$name.b")"
}

# peak_kib COMMAND: the peak resident memory of COMMAND, in KiB.
peak_kib() {
    /usr/bin/time -f %M -o "$OUT/rss" sh -c "exec $1" >/dev/null 2>&1 || true
    tail -1 "$OUT/rss"
}

ratio() { echo "scale=2; $1 / $2" | bc -l; }
eps() { echo "$EVENTS / $1" | bc; }
verdict() { # RATIO TARGET [le]: "met" or "NOT met"
    if [ "${3:-ge}" = le ]; then
        [ "$(echo "$1 <= $2" | bc -l)" = 1 ] && echo met || echo "NOT met"
    else
        [ "$(echo "$1 >= $2" | bc -l)" = 1 ] && echo met || echo "NOT met"
    fi
}

rules=rules
q_th='@eventSource:signin.amazonaws.com @evt.name:ConsoleLogin'
q_jq='select(.eventSource == "signin.amazonaws.com" and .eventName == "ConsoleLogin")'
failed=0

# Output checks before timing: the same matches as jq, the same signals with 2 threads.
"$TH" hunt --no-progress "$q_th" "$ND" >"$OUT/hunt.out" || true
jq -c "$q_jq" "$ND" >"$OUT/jq.out"
n_hunt=$(wc -l <"$OUT/hunt.out")
n_jq=$(wc -l <"$OUT/jq.out")
[ "$n_hunt" = "$n_jq" ] || { echo "CHECK FAILED: hunt found $n_hunt events, jq $n_jq" >&2; failed=1; }
"$TH" run --no-progress -r "$rules" --threads 1 "$ND" >"$OUT/t1.out" 2>/dev/null
"$TH" run --no-progress -r "$rules" --threads 2 "$ND" >"$OUT/t2.out" 2>/dev/null
if cmp -s "$OUT/t1.out" "$OUT/t2.out"; then identical=yes; else identical=NO; failed=1; fi
n_signals=$(wc -l <"$OUT/t1.out")

echo "trailhound benchmark: $EVENTS events ($(du -h "$ND" | cut -f1) NDJSON, $(du -sh "$S3" | cut -f1) in $(find "$S3" -name '*.gz' | wc -l) gzipped S3 objects), $RUNS runs each ($PAIR_RUNS in turns for one thread against two), median wall time"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "timer: $(command -v hyperfine >/dev/null 2>&1 && echo hyperfine || echo 'shell loop')"
echo

t_hunt=$(median_time hunt "'$TH' hunt --no-progress '$q_th' '$ND'")
t_jq=$(median_time jq "jq -c '$q_jq' '$ND'")
r=$(ratio "$t_jq" "$t_hunt")
printf '%-44s %8.3f s %10s ev/s\n' "hunt '$q_th'" "$t_hunt" "$(eps "$t_hunt")"
printf '%-44s %8.3f s %10s ev/s\n' "jq -c '$q_jq'" "$t_jq" "$(eps "$t_jq")"
printf '  -> hunt is %sx jq (%s events found by both); target >= 20x: %s\n\n' "$r" "$n_hunt" "$(verdict "$r" 20)"

t_run=$(median_time run1 "'$TH' run --no-progress -r $rules '$ND'")
t_floor=$(median_time floor "'$BUILD/jsonc_floor' '$ND'")
t_nopf=$(median_time nopf "'$TH' run --no-progress --no-prefilter -r $rules '$ND'")
r=$(ratio "$t_floor" "$t_run")
printf '%-44s %8.3f s %10s ev/s\n' "run, whole pack ($(ls rules/*/* | wc -l) rules), 1 thread" "$t_run" "$(eps "$t_run")"
printf '%-44s %8.3f s %10s ev/s\n' "json-c parse-only floor" "$t_floor" "$(eps "$t_floor")"
printf '%-44s %8.3f s %10s ev/s\n' "run, whole pack, --no-prefilter" "$t_nopf" "$(eps "$t_nopf")"
printf '  -> run is %sx the floor (%s signals); target >= 1.5x: %s\n\n' "$r" "$n_signals" "$(verdict "$r" 1.5)"

pair=$(median_pair threads "'$TH' run --no-progress --threads 1 -r $rules '$ND'" \
    "'$TH' run --no-progress --threads 2 -r $rules '$ND'")
t_pair1=${pair%% *}
t_run2=$(echo "$pair" | cut -d' ' -f2)
r=$(ratio "$t_pair1" "$t_run2")
printf '%-44s %8.3f s %10s ev/s\n' "run, whole pack, 1 thread (in turns with:)" "$t_pair1" "$(eps "$t_pair1")"
printf '%-44s %8.3f s %10s ev/s\n' "run, whole pack, --threads 2" "$t_run2" "$(eps "$t_run2")"
printf '  -> --threads 2 is %sx one thread, output byte-identical: %s; target >= 1.7x: %s\n\n' "$r" "$identical" "$(verdict "$r" 1.7)"

t_zcat=$(median_time zcat "find '$S3' -name '*.json.gz' -print0 | xargs -0 zcat > /dev/null")
t_gz1=$(median_time gz1 "'$TH' run --no-progress -r $rules '$S3'")
t_gz2=$(median_time gz2 "'$TH' run --no-progress --threads 2 -r $rules '$S3'")
t_gzh=$(median_time gzh "'$TH' hunt --no-progress '$q_th' '$S3'")
printf '%-44s %8.3f s %10s ev/s\n' "zcat > /dev/null" "$t_zcat" "$(eps "$t_zcat")"
for x in "run, whole pack, 1 thread:$t_gz1" "run, whole pack, --threads 2:$t_gz2" "hunt '$q_th':$t_gzh"; do
    name=${x%:*}
    t=${x##*:}
    r=$(ratio "$t_zcat" "$t")
    printf '%-44s %8.3f s %10s ev/s  -> %sx zcat; target >= 0.8x: %s\n' "gzipped $name" "$t" "$(eps "$t")" "$r" "$(verdict "$r" 0.8)"
done
echo

kib_hunt=$(peak_kib "'$TH' hunt --no-progress '$q_th' '$ND'")
kib_hunt_gz=$(peak_kib "'$TH' hunt --no-progress '$q_th' '$S3'")
kib_gz2=$(peak_kib "'$TH' run --no-progress --threads 2 -r $rules '$S3'")
kib_run=$(peak_kib "'$TH' run --no-progress -r $rules '$ND'")
kib_p=$(peak_kib "'$TH' run --no-progress -r $rules '$DATA/principals.ndjson'")
kib_p1=$(peak_kib "'$TH' run --no-progress -r tests/bench/state-rule.yaml '$DATA/principals.ndjson'")
printf '%-44s %8.1f MiB  target <= 64 MiB: %s\n' "peak memory, stateless replay (hunt, NDJSON)" "$(echo "$kib_hunt / 1024" | bc -l)" "$(verdict "$kib_hunt" 65536 le)"
printf '%-44s %8.1f MiB  target <= 64 MiB: %s\n' "peak memory, stateless replay (hunt, S3)" "$(echo "$kib_hunt_gz / 1024" | bc -l)" "$(verdict "$kib_hunt_gz" 65536 le)"
printf '%-44s %8.1f MiB  target <= 64 MiB: %s\n' "peak memory, run, whole pack, S3, --threads 2" "$(echo "$kib_gz2 / 1024" | bc -l)" "$(verdict "$kib_gz2" 65536 le)"
printf '%-44s %8.1f MiB\n' "peak memory, run, whole pack ($EVENTS events)" "$(echo "$kib_run / 1024" | bc -l)"
printf '%-44s %8.1f MiB  target <= 512 MiB: %s\n' "peak memory, 1M principals, one count rule" "$(echo "$kib_p1 / 1024" | bc -l)" "$(verdict "$kib_p1" 524288 le)"
printf '%-44s %8.1f MiB  target <= 512 MiB: %s\n' "peak memory, 1M principals, whole pack" "$(echo "$kib_p / 1024" | bc -l)" "$(verdict "$kib_p" 524288 le)"
[ "$failed" = 0 ] || echo "SOME OUTPUT CHECK FAILED (see above)" >&2
exit "$failed"
