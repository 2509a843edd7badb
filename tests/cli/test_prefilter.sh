#!/bin/sh
# test_prefilter.sh - the prefilter never changes a result, through the real binary: every
# rule fixture case with its rule (and all fixture events under the whole pack), every
# golden engine case, and the bundled sample (gzipped Records objects, the same events as
# NDJSON, and stdin) give byte-identical signals and the same counters with the prefilter
# on and off (--no-prefilter); hunt gives the same events for a set of queries. Counters
# that measure work done (GeoIP lookups, regex limits) are left out: skipping work is the
# point. Also checks that the prefilter actually skipped something on the sample.
. "$(dirname "$0")/lib.sh"
: "${GEN_SAMPLE:?set GEN_SAMPLE to the gen_sample binary}"

# counters: --stats without the lines that measure work or time.
counters() {
    grep -v -E '^  (peak memory|time|geoip|regex limits|state|prefilter) ' "$1"
}

# same DIR DESCRIPTION ARGS...: runs `trailhound ARGS` in DIR twice, prefilter on and off
# (standard input from $stdin_file, /dev/null by default); stdout, exit status and
# counters must agree.
stdin_file=/dev/null
same() {
    dir=$1
    what=$2
    shift 2
    s1=0
    s2=0
    (cd "$dir" && "$TRAILHOUND" "$@" --stats) <"$stdin_file" >"$TMP/on" 2>"$TMP/on.err" || s1=$?
    (cd "$dir" && "$TRAILHOUND" "$@" --stats --no-prefilter) <"$stdin_file" >"$TMP/off" \
        2>"$TMP/off.err" || s2=$?
    if [ "$s1" != "$s2" ]; then
        bad "$what: exit $s1 with the prefilter, $s2 without"
    elif ! cmp -s "$TMP/on" "$TMP/off"; then
        bad "$what: output differs with the prefilter: $(diff "$TMP/off" "$TMP/on" | head -5)"
    elif [ "$(counters "$TMP/on.err")" != "$(counters "$TMP/off.err")" ]; then
        bad "$what: counters differ: $(counters "$TMP/on.err" | diff - "$TMP/off.err" | head -6)"
    else
        ok
    fi
}

# Every fixture case, with its own rule and its args, from inside the case directory.
all_events="$TMP/all-fixture-events.ndjson"
: >"$all_events"
cases=0
for case_dir in "$TH_SRC"/fixtures/*/*/; do
    case_dir=${case_dir%/}
    rule_id=$(basename "$(dirname "$case_dir")")
    set -- "$case_dir"/events.*
    [ -e "$1" ] || continue
    rule=$(find "$TH_SRC/rules" -name "$rule_id.yaml" -o -name "$rule_id.yml" -o -name "$rule_id.json" | head -1)
    [ -n "$rule" ] || continue
    args=""
    [ -f "$case_dir/args" ] && args=$(cat "$case_dir/args")
    # shellcheck disable=SC2086 # args holds several options on purpose
    same "$case_dir" "fixture $rule_id/$(basename "$case_dir")" run --no-progress -r "$rule" $args "$@"
    for f in "$@"; do
        case $f in *.gz) gzip -dc "$f" ;; *) cat "$f" ;; esac >>"$all_events"
        echo >>"$all_events"
    done
    cases=$((cases + 1))
done
expect_eq "$([ "$cases" -ge 100 ] && echo yes)" yes "at least 100 fixture cases compared ($cases)"
geo="--geoip $TH_SRC/tests/geoip/trailhound-City-Test.mmdb --asn $TH_SRC/tests/geoip/trailhound-ASN-Test.mmdb"
# shellcheck disable=SC2086
same "$TMP" "every fixture event under the whole pack" run --no-progress --signal-updates $geo -r "$TH_SRC/rules" "$all_events"

# Every golden case, as its runner runs it.
for case_dir in "$TH_SRC"/tests/golden/cases/*/; do
    case_dir=${case_dir%/}
    rules="$case_dir/rules"
    [ -e "$rules" ] || rules="$case_dir/rule.yaml"
    args=""
    [ -f "$case_dir/args" ] && args=$(cat "$case_dir/args")
    # shellcheck disable=SC2086
    same "$case_dir" "golden $(basename "$case_dir")" run --no-progress -r "$rules" $args input
done

# The bundled sample: gzipped Records objects, then the same events as NDJSON and on stdin.
"$GEN_SAMPLE" "$TMP/sample" --events 6000 2>/dev/null
# shellcheck disable=SC2086
same "$TMP" "the sample (S3 objects)" run --no-progress --signal-updates $geo -r "$TH_SRC/rules" "$TMP/sample"
run_th hunt --no-progress '*' "$TMP/sample"
printf '%s\n' "$out" >"$TMP/sample.ndjson"
# shellcheck disable=SC2086
same "$TMP" "the sample (NDJSON)" run --no-progress --signal-updates $geo -r "$TH_SRC/rules" "$TMP/sample.ndjson"
stdin_file="$TMP/sample.ndjson"
# shellcheck disable=SC2086
same "$TMP" "the sample (stdin)" run --no-progress $geo -r "$TH_SRC/rules" -
stdin_file=/dev/null
expect_out_has '"eventName":"ConsoleLogin"' "the sample as NDJSON has console logins"

# Hunt: the same events, for selective and broad queries, over both forms.
for q in '@evt.name:ConsoleLogin' '@eventSource:iam.amazonaws.com -@errorCode:*' \
    '@userIdentity.type:Root' '@http.useragent:*Mozilla*' '@readOnly:false' \
    '@requestParameters.bucketName:*' '-@userIdentity.invokedBy:*' 'AccessDenied' \
    '@usr.name:alice' '@network.client.geoip.country.iso_code:US' '@evt.name:Get* @sourceIPAddress:/^10\./'; do
    # shellcheck disable=SC2086
    same "$TMP" "hunt $q (S3 objects)" hunt --no-progress $geo "$q" "$TMP/sample"
    # shellcheck disable=SC2086
    same "$TMP" "hunt $q (NDJSON)" hunt --no-progress $geo "$q" "$TMP/sample.ndjson"
done

# It does skip: with the pack, most of the sample's events are never parsed.
# shellcheck disable=SC2086
run_th run --no-progress --stats $geo -r "$TH_SRC/rules" "$TMP/sample.ndjson"
skipped=$(printf '%s\n' "$err" | sed -n 's/^  prefilter  *\([0-9]*\) events skipped.*/\1/p')
accepted=$(printf '%s\n' "$err" | sed -n 's/^  events  *\([0-9]*\) accepted.*/\1/p')
expect_eq "$([ "${skipped:-0}" -gt $((accepted / 3)) ] && echo most)" most "the prefilter skipped ${skipped:-0} of $accepted events"
# shellcheck disable=SC2086
run_th run --no-progress --stats --no-prefilter $geo -r "$TH_SRC/rules" "$TMP/sample.ndjson"
case $err in *"  prefilter "*) bad "--no-prefilter still skipped events" ;; *) ok ;; esac
finish
