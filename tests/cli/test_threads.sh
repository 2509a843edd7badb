#!/bin/sh
# test_threads.sh - `--threads 2` (reading on a second thread, evaluating on the first) gives
# byte-identical output and the same counters as one thread: the bundled sample as gzipped
# S3 objects, as NDJSON and on stdin, with and without the prefilter; every fixture event
# under the whole pack; the golden cases (bad lines, formats); hunt and --count; events of
# 900 KB. Also: a reader told to stop (the output closed early) ends without hanging, and
# the option refuses what it cannot do.
. "$(dirname "$0")/lib.sh"
: "${GEN_SAMPLE:?set GEN_SAMPLE to the gen_sample binary}"

counters() {
    grep -v -E '^  (peak memory|time|state) ' "$1"
}

stdin_file=/dev/null
# same DIR DESCRIPTION ARGS...: `trailhound ARGS` with one thread and with two.
same() {
    dir=$1
    what=$2
    shift 2
    s1=0
    s2=0
    (cd "$dir" && "$TRAILHOUND" "$@" --stats) <"$stdin_file" >"$TMP/one" 2>"$TMP/one.err" || s1=$?
    (cd "$dir" && "$TRAILHOUND" "$@" --stats --threads 2) <"$stdin_file" >"$TMP/two" \
        2>"$TMP/two.err" || s2=$?
    if [ "$s1" != "$s2" ]; then
        bad "$what: exit $s1 with one thread, $s2 with two"
    elif ! cmp -s "$TMP/one" "$TMP/two"; then
        bad "$what: output differs with two threads: $(diff "$TMP/one" "$TMP/two" | head -5)"
    elif [ "$(counters "$TMP/one.err")" != "$(counters "$TMP/two.err")" ]; then
        bad "$what: counters differ: $(counters "$TMP/two.err" | diff - "$TMP/one.err" | head -6)"
    else
        ok
    fi
}

geo="--geoip $TH_SRC/tests/geoip/trailhound-City-Test.mmdb --asn $TH_SRC/tests/geoip/trailhound-ASN-Test.mmdb"
"$GEN_SAMPLE" "$TMP/sample" --events 8000 2>/dev/null
run_th hunt --no-progress '*' "$TMP/sample"
printf '%s\n' "$out" >"$TMP/sample.ndjson"
for pf in "" --no-prefilter; do
    # shellcheck disable=SC2086 # geo and pf hold options
    same "$TMP" "the sample (S3 objects) $pf" run --no-progress --signal-updates $geo $pf -r "$TH_SRC/rules" "$TMP/sample"
    # shellcheck disable=SC2086
    same "$TMP" "the sample (NDJSON) $pf" run --no-progress --signal-updates $geo $pf -r "$TH_SRC/rules" "$TMP/sample.ndjson"
    stdin_file="$TMP/sample.ndjson"
    # shellcheck disable=SC2086
    same "$TMP" "the sample (stdin) $pf" run --no-progress $geo $pf -r "$TH_SRC/rules" -
    stdin_file=/dev/null
    # shellcheck disable=SC2086
    same "$TMP" "hunt $pf" hunt --no-progress $geo $pf '@eventSource:s3.amazonaws.com -@errorCode:*' "$TMP/sample"
    # shellcheck disable=SC2086
    same "$TMP" "hunt --count $pf" hunt --no-progress --count $pf '@evt.name:Get*' "$TMP/sample.ndjson"
done
# Two sources in one run: each read gets its own thread, state carries over.
# shellcheck disable=SC2086
same "$TMP" "two sources" run --no-progress $geo -r "$TH_SRC/rules" "$TMP/sample.ndjson" "$TMP/sample"
# Events of nearly 1 MiB among the others: a batch's arena, and the evaluating thread's copy
# of it, grow past their usual size.
awk 'BEGIN { s = "A"; while (length(s) < 900000) s = s s; s = substr(s, 1, 900000) }
     NR % 500 == 0 { sub(/^\{/, "{\"pad\":\"" s "\",") } { print }' "$TMP/sample.ndjson" >"$TMP/big.ndjson"
expect_eq "$(awk 'length > 900000' "$TMP/big.ndjson" | wc -l | tr -d ' ')" 16 "16 events of 900 KB"
# shellcheck disable=SC2086
same "$TMP" "events of 900 KB" run --no-progress $geo -r "$TH_SRC/rules" "$TMP/big.ndjson"

# Every fixture event under the whole pack, and the golden cases.
for f in "$TH_SRC"/fixtures/*/*/events.*; do
    case $f in *.gz) gzip -dc "$f" ;; *) cat "$f" ;; esac
    echo
done >"$TMP/fixtures.ndjson"
# shellcheck disable=SC2086
same "$TMP" "every fixture event" run --no-progress --signal-updates $geo -r "$TH_SRC/rules" "$TMP/fixtures.ndjson"
for case_dir in "$TH_SRC"/tests/golden/cases/*/; do
    case_dir=${case_dir%/}
    rules="$case_dir/rules"
    [ -e "$rules" ] || rules="$case_dir/rule.yaml"
    args=""
    [ -f "$case_dir/args" ] && args=$(cat "$case_dir/args")
    # shellcheck disable=SC2086
    same "$case_dir" "golden $(basename "$case_dir")" run --no-progress -r "$rules" $args input
done

# Output closed early: the reader thread is told to stop; nothing hangs.
status=0
timeout 60 sh -c "'$TRAILHOUND' run --threads 2 --no-progress $geo -r '$TH_SRC/rules' '$TMP/sample.ndjson' | head -c 10 >/dev/null" || status=$?
expect_eq "$status" 0 "closing the output early ends the run (no hang)"
status=0
timeout 60 sh -c "'$TRAILHOUND' hunt --threads 2 --no-progress '*' '$TMP/sample' | head -n 1 >/dev/null" || status=$?
expect_eq "$status" 0 "hunt stops early too"

run_th run --threads 0 -r "$TH_SRC/rules" "$TMP/sample.ndjson"
expect_status 2 "--threads 0 is a usage error"
expect_one_line_err "--threads 0"
run_th hunt --threads x '*' "$TMP/sample.ndjson"
expect_status 2 "--threads x is a usage error"
finish
