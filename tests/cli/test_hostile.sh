#!/bin/sh
# test_hostile.sh - hostile input through the real binary (SPEC §14). Each hostile input is
# mixed with good events (eventName "Good", each with its own eventID), and for each the
# test checks: no crash (no signal, no sanitizer report), no hang (every run is under a
# timeout), bounded memory (the "peak memory" line of --stats), the exact number of good
# events processed and of bad ones rejected by reason, and one-line reasons.
#
# Inputs: malformed and truncated JSON, json-c's lenient forms (written back as strict
# JSON), truncated and corrupt gzip, binary garbage and NUL bytes, invalid UTF-8, a single
# 100 MiB line (generated here, never committed), nesting 100k deep, wrong types in known
# fields, non-IP sourceIPAddress values, unreadable files and directories and symlink
# loops, broken .mmdb files (truncated and byte-flipped copies of tests/geoip), catastrophic
# regexes, 200k distinct groups against --max-groups, events before 1970, hostile rule files
# (billion laughs, huge, binary), the limits' flags, and the security notes (state
# directory modes, secrets never printed). The README's "Hostile input and limits" table
# lists them with what happens to each.
. "$(dirname "$0")/lib.sh"
G="$TH_SRC/tests/geoip"
CITY="$G/trailhound-City-Test.mmdb"
ASN="$G/trailhound-ASN-Test.mmdb"
TRAILHOUND_GEOIP_DIRS=""
export TRAILHOUND_GEOIP_DIRS
# Under ASan, freed memory sits in a quarantine (256 MiB by default) and would count as
# resident: keep it small so that peak memory measures the engine, not the sanitizer.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
export ASAN_OPTIONS
LIMIT=${TH_HOSTILE_TIMEOUT:-120} # seconds any one run may take before it counts as a hang

# run_t ARGS...: run_th under a timeout, and check that nothing crashed or hung.
run_t() {
    run_raw "$@"
    loaded "$*"
}
# At the end of a pipeline (a subshell: it cannot set the caller's variables), run_raw runs
# the binary and leaves its results in files; loaded then reads them in the caller.
run_raw() {
    st=0
    timeout "$LIMIT" "$TRAILHOUND" "$@" >"$TMP/out" 2>"$TMP/err" || st=$?
    echo "$st" >"$TMP/status"
}
loaded() { # DESCRIPTION
    status=$(cat "$TMP/status")
    out=$(cat "$TMP/out")
    err=$(cat "$TMP/err")
    sane "$1"
}
sane() { # DESCRIPTION
    case $status in
    124) bad "HANG (over ${LIMIT}s): $1" ;;
    1[2-9][0-9] | 2[0-9][0-9]) bad "CRASH (exit $status): $1; stderr: $(tail -c 800 "$TMP/err")" ;;
    *)
        if grep -qE 'Sanitizer|runtime error|==[0-9]+==' "$TMP/err"; then
            bad "sanitizer report: $1: $(grep -m3 -E 'Sanitizer|runtime error' "$TMP/err")"
        else
            ok
        fi
        ;;
    esac
}
# The counters of --stats.
stat_line() { grep -m1 "^  $1 " "$TMP/err" | sed "s/^  $1 *//"; }
expect_accepted() { # N DESCRIPTION
    expect_eq "$(stat_line events | sed 's/ accepted.*//')" "$1" "$2: events accepted"
}
expect_rejected() { # "N (reason N, ...)" DESCRIPTION
    expect_eq "$(stat_line rejected)" "$1" "$2: rejects"
}
expect_good() { # N DESCRIPTION: hunt --count printed N good events
    expect_eq "$(printf '%s\n' "$out" | tail -n 1)" "$1" "$2: good events found"
}
expect_peak_below() { # MIB DESCRIPTION
    peak=$(stat_line "peak memory" | sed 's/\..*//; s/ MiB.*//')
    if [ -z "$peak" ]; then
        bad "$2: no peak memory line in --stats"
    elif [ "$peak" -lt "$1" ]; then ok; else
        bad "$2: peak memory ${peak} MiB, want under $1 MiB"
    fi
}
# Every reject sample of --stats is one line "file:line: reason: detail".
expect_samples_one_line() { # DESCRIPTION
    n=$(grep -c '^    ' "$TMP/err" || true)
    m=$(grep -cE '^    [^ ].*:[0-9]+: [a-z_]+: ' "$TMP/err" || true)
    if [ "$n" = "$m" ]; then ok; else
        bad "$1: reject samples not of the form 'file:line: reason: detail': $(grep '^    ' "$TMP/err")"
    fi
}
hunt_good() { # ARGS... (sources last)
    run_t hunt --no-progress --stats --count '@eventName:Good' "$@"
}

# good N TAG: N good events, one per line, a second apart from 10:00:00.
good() {
    awk -v n="$1" -v tag="$2" 'BEGIN { for (i = 0; i < n; i++) {
        printf "{\"eventVersion\":\"1.08\",\"eventTime\":\"2024-03-04T10:%02d:%02dZ\",\"eventName\":\"Good\",\"eventID\":\"%s-%d\",\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/u%d\"},\"sourceIPAddress\":\"203.0.113.9\",\"userAgent\":\"aws-cli/2.15.0\"}\n", int(i / 60) % 60, i % 60, tag, i, i % 7 } }'
}
# A rule that fires on every good event (one signal per eventID) with samples.
cat >"$TMP/fire.yaml" <<'EOF'
id: hostile-fire
name: Every good event
tags: [source:cloudtrail]
queries:
  - query: '@eventName:Good'
    group_by: ['@eventID']
options: {evaluation_window: 0, keep_alive: 0, max_signal_duration: 0}
cases:
  - condition: a > 0
    status: info
message: '{{@usr.name}} {{@userIdentity.session_name}} {{@network.client.ip_class}} {{@userAgent}}'
EOF
# Every signal line must be strict JSON; jq (in tests/setup.sh) parses each one alone.
expect_json_lines() { # FILE N DESCRIPTION
    n=$(grep -c . "$1" || true)
    expect_eq "$n" "$2" "$3: signal lines"
    bad_lines=0
    while IFS= read -r l; do
        printf '%s\n' "$l" | jq -e '.type == "signal"' >/dev/null 2>&1 || bad_lines=$((bad_lines + 1))
    done <"$1"
    expect_eq "$bad_lines" 0 "$3: lines jq cannot parse"
    if iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1; then ok; else bad "$3: output is not UTF-8"; fi
    if grep -qE '(NaN|Infinity|\\u[dD][89abAB][0-9a-fA-F]{2}"|,\}|,\])' "$1"; then
        bad "$3: output holds NaN, Infinity, a lone surrogate or a trailing comma"
    else ok; fi
}

# --- Malformed JSON ----------------------------------------------------------------------
# Each bad line is rejected, by its own reason, and the good lines around them are kept. A
# document left open (`{"Records":`) takes the lines that continue it as JSON (here the
# two after it) until the error: one reject for the three.
{
    good 2 m1
    printf '%s\n' '{' '{"a":}' '}' '[1,2' '{"eventTime":"2024-03-04T10:00:00Z" "x":1}' \
        'null' '"str"' '42' '[]' '{}' '{"eventTime":"2024-03-04T10:00:00Z"}}' \
        '{"eventTime":"2024-03-04T10:00:00Z","eventName":Good}' \
        '{"eventTime":"2024-03-04T10:00:00Z","eventName":"Good"' \
        '{"eventTime":"2024-03-04T10:00:00Z","eventName":"Good","eventID":"x\u12"}' \
        '{"eventTime":"2024-03-04T10:00:00Z","eventName":"Good",,"eventID":"y"}' \
        '{"eventTime":"2024-03-04T10:00:00Z","eventName":"Good"]' \
        '{"Records":[{"eventTime":"2024-03-04T10:00:00Z","eventName":"Good","eventID":"r"},}' \
        '{"Records":' '{"detail-type":"AWS API Call via CloudTrail","detail":' \
        '{"messageType":"DATA_MESSAGE","logEvents":[{"message":"{\"eventTime\":"}]}'
    good 2 m2
} >"$TMP/malformed.ndjson"
hunt_good "$TMP/malformed.ndjson"
expect_status 0 "malformed JSON"
expect_good 4 "malformed JSON"
expect_accepted 4 "malformed JSON"
expect_rejected "17 (malformed_json 13, not_an_object 3, missing_or_bad_event_time 1)" \
    "malformed JSON"
expect_samples_one_line "malformed JSON"
expect_peak_below 64 "malformed JSON"

# json-c takes some things strict JSON does not: trailing commas, single quotes, comments,
# NaN, TRUE, 01. Those events are accepted; their samples are written back as strict JSON.
{
    good 1 l1
    printf '%s\n' '{"eventTime":"2024-03-04T10:00:00Z","eventName":"Good","eventID":"l-comma",}' \
        "{'eventTime':'2024-03-04T10:00:01Z','eventName':'Good','eventID':'l-quote','q':'a\"b'}" \
        '{"eventTime":"2024-03-04T10:00:02Z","eventName":"Good","eventID":"l-num","n":NaN,"m":-Infinity,"b":TRUE,"z":01,"d":1.}' \
        '{"eventTime":"2024-03-04T10:00:03Z" /* c */,"eventName":"Good","eventID":"l-comment","a":[1,2,]}' \
        '{"eventTime":"2024-03-04T10:00:04Z","eventName":"Good","eventID":"l-sur","s":"\ud800 \udc00 \ud83d\ude00"}'
    printf '{"Records":[{"eventTime":"2024-03-04T10:00:05Z","eventName":"Good","eventID":"l-doc","n":NaN,"s":"\\udbff"}]}\n'
} >"$TMP/lenient.ndjson"
run_t run --no-progress --stats -r "$TMP/fire.yaml" "$TMP/lenient.ndjson"
expect_status 0 "json-c's lenient forms"
expect_accepted 7 "json-c's lenient forms"
printf '%s\n' "$out" >"$TMP/lenient.out"
expect_json_lines "$TMP/lenient.out" 7 "json-c's lenient forms"
expect_out_has '"samples":[{"eventTime":"2024-03-04T10:00:00Z","eventName":"Good","eventID":"l-comma"}]' \
    "a trailing comma is dropped from the sample"
expect_out_has '"n":null,"m":null,"b":true,"z":1,"d":1}' "NaN, Infinity, TRUE, 01 and 1. rewritten"
expect_out_has '"s":"\ufffd \ufffd \ud83d\ude00"' "lone surrogates become U+FFFD, a pair stays"
expect_out_has "\"q\":\"a\\\"b\"" "a single-quoted string becomes a double-quoted one"

# --- Truncated JSON: every prefix of an event, each followed by a good event. -------------
ev='{"eventVersion":"1.08","eventTime":"2024-03-04T11:00:00Z","eventName":"Cut","eventID":"cut","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u"},"requestParameters":{"a":[1,{"b":"c d"}]}}'
len=${#ev}
i=1
: >"$TMP/truncated.ndjson"
while [ $i -lt "$len" ]; do
    printf '%s\n' "$ev" | cut -c "1-$i" >>"$TMP/truncated.ndjson"
    good 1 "t$i" >>"$TMP/truncated.ndjson"
    i=$((i + 1))
done
printf '%s' "$ev" | cut -c "1-$((len / 2))" | tr -d '\n' >>"$TMP/truncated.ndjson" # cut at EOF
hunt_good "$TMP/truncated.ndjson"
expect_status 0 "truncated JSON"
expect_good $((len - 1)) "truncated JSON: every good event after a cut line"
expect_accepted $((len - 1)) "truncated JSON"
expect_rejected "$len (malformed_json $len)" "truncated JSON: each prefix once"
expect_samples_one_line "truncated JSON"

# --- Truncated and corrupt gzip ---------------------------------------------------------
mkdir "$TMP/gz"
good 3000 z >"$TMP/z.ndjson"
gzip -n -c "$TMP/z.ndjson" >"$TMP/z.gz"
size=$(wc -c <"$TMP/z.gz")
head -c $((size / 2)) "$TMP/z.gz" >"$TMP/gz/a-half.json.gz"
# What gzip itself can decode of the same bytes: its complete lines are the events.
want_half=$(gzip -dc <"$TMP/gz/a-half.json.gz" 2>/dev/null | wc -l | tr -d ' ')
head -c 10 "$TMP/z.gz" >"$TMP/gz/b-header-only.gz"
printf '\037\213' >"$TMP/gz/c-magic-only.gz"
perl -e 'binmode STDOUT; print "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"; srand(11);
    print chr(int(rand(256))) for 1 .. 5000' >"$TMP/gz/d-magic-then-garbage.gz"
# A flipped byte in the middle of the deflate data, and a wrong CRC at the end.
perl -e 'binmode STDIN; binmode STDOUT; local $/; my $d = <STDIN>;
    substr($d, int(length($d) / 2), 1) ^= "\xff"; print $d' <"$TMP/z.gz" >"$TMP/gz/e-flipped.gz"
perl -e 'binmode STDIN; binmode STDOUT; local $/; my $d = <STDIN>;
    substr($d, length($d) - 8, 1) ^= "\x01"; print $d' <"$TMP/z.gz" >"$TMP/gz/f-bad-crc.gz"
# Two members, the second cut short; zero padding after a complete one (allowed).
{ good 5 m | gzip -n -c; head -c 100 "$TMP/z.gz"; } >"$TMP/gz/g-second-member-cut.gz"
{ good 5 p | gzip -n -c; head -c 512 /dev/zero; } >"$TMP/gz/h-zero-padding.gz"
good 7 ok >"$TMP/gz/i-good.ndjson"
hunt_good "$TMP/gz"
expect_status 0 "corrupt gzip"
got=$(printf '%s\n' "$out" | tail -n 1)
# Events: what gzip decodes of the half file, the flipped file up to the damage (at most
# the half), the bad-CRC file whole (its data is intact: the damage is found at the end),
# 5 + 5 of the members, 7 plain.
half_ok=$([ "$want_half" -gt 1000 ] && echo yes || echo no)
expect_eq "$half_ok" yes "a gzip cut in half still yields its first half ($want_half events)"
expect_err_has "corrupt_gzip" "corrupt gzip is a counted reject"
flipped=$((got - want_half - 3000 - 5 - 5 - 7))
if [ "$flipped" -ge 0 ] && [ "$flipped" -le 1500 ]; then ok; else
    bad "corrupt gzip: $got good events, want $want_half + 3000 + 17 + up to 1500 from the flipped file"
fi
hunt_good "$TMP/gz/a-half.json.gz"
expect_good "$want_half" "a truncated gzip gives exactly the events gzip -d recovers"
expect_rejected "1 (corrupt_gzip 1)" "a truncated gzip: the damage (its cut last line goes with it)"
hunt_good "$TMP/gz/h-zero-padding.gz"
expect_good 5 "zero padding after a gzip member"
expect_rejected "0" "zero padding is not damage"
for f in b-header-only.gz c-magic-only.gz d-magic-then-garbage.gz; do
    hunt_good "$TMP/gz/$f"
    expect_status 1 "$f: no event, no crash"
    expect_rejected "1 (corrupt_gzip 1)" "$f"
    expect_samples_one_line "$f"
done
# The same through stdin (a pipe: no seeking, no size).
run_t hunt --no-progress --stats --count '@eventName:Good' - <"$TMP/gz/e-flipped.gz"
expect_err_has "corrupt_gzip 1" "corrupt gzip on stdin"

# --- Records documents that end exactly where the read window refills ------------------
# (the fast path kept pointers into the window across a refill: a use after free, found by
# the fuzz build's tiny window). A first event, then a gzipped Records document ending at
# byte 2^17, 2^18, 2^19 of the stream (give or take one), then a last event.
records_at() { # TOTAL: writes the input, prints the number of events on fd 3
    perl -e '
        my $total = shift; my $n = 0; my @ev; my $doc;
        my $first = "{\"eventTime\":\"2024-03-04T09:00:00Z\",\"eventName\":\"Good\",\"eventID\":\"first\"}\n";
        my $mk = sub { sprintf "{\"eventTime\":\"2024-03-04T10:%02d:%02dZ\",\"eventName\":\"Good\",\"eventID\":\"r%d\",\"p\":\"%s\"}",
            int($_[0] / 60) % 60, $_[0] % 60, $_[0], "x" x $_[1] };
        do { push @ev, $mk->($n++, 200); $doc = "{\"Records\":[" . join(",", @ev) . "]}" }
            while length($first) + length($doc) + 300 <= $total;
        $ev[-1] = $mk->($n - 1, 200 + $total - length($first) - length($doc));
        $doc = "{\"Records\":[" . join(",", @ev) . "]}";
        print $first, $doc, "\n{\"eventTime\":\"2024-03-04T11:00:00Z\",\"eventName\":\"Good\",\"eventID\":\"last\"}\n";
        print STDERR $n + 2, "\n";' "$1"
}
for total in 131071 131072 131073 262143 262144 262145 524288; do
    records_at "$total" 2>"$TMP/records.n" | gzip -n -c >"$TMP/records.json.gz"
    run_t run --no-progress --stats -r "$TMP/fire.yaml" "$TMP/records.json.gz"
    expect_status 0 "a Records document ending at byte $total"
    expect_accepted "$(cat "$TMP/records.n")" "a Records document ending at byte $total"
    expect_eq "$(printf '%s\n' "$out" | grep -c '"type":"signal"')" "$(cat "$TMP/records.n")" \
        "a Records document ending at byte $total: a signal per event"
done

# --- Binary garbage and NUL bytes -----------------------------------------------------
perl -e 'binmode STDOUT; srand(7); print chr(int(rand(256))) for 1 .. 262144' >"$TMP/garbage.bin"
{ good 3 b1; cat "$TMP/garbage.bin"; printf '\n'; good 3 b2; } >"$TMP/garbage-mixed.log"
hunt_good "$TMP/garbage-mixed.log"
expect_status 0 "binary garbage"
expect_good 6 "binary garbage: the good events around it"
expect_accepted 6 "binary garbage"
garbage_rejects=$(stat_line rejected | sed 's/ .*//')
if [ "${garbage_rejects:-0}" -gt 0 ]; then ok; else bad "binary garbage: nothing rejected"; fi
expect_samples_one_line "binary garbage"
expect_peak_below 64 "binary garbage"
# Garbage lines between good lines (no newline inside): one reject each.
perl -e 'binmode STDOUT; srand(9); for my $i (1 .. 200) {
    my $s = join "", map { chr(int(rand(256))) } 1 .. 1 + int(rand(300));
    $s =~ s/[\n]//g; $s =~ s/^[\s\[\{"0-9tfn-]+//; $s = "x" if $s eq "";
    print "$s\n";
    printf "{\"eventTime\":\"2024-03-04T10:00:%02dZ\",\"eventName\":\"Good\",\"eventID\":\"g%d\"}\n", $i % 60, $i }' \
    >"$TMP/garbage-lines.log"
hunt_good "$TMP/garbage-lines.log"
expect_good 200 "garbage lines between good lines"
expect_rejected "200 (malformed_json 200)" "garbage lines: one reject each"
# NUL bytes: a whole file of them, a line of them, one inside an event, between events.
head -c 65536 /dev/zero >"$TMP/zeros.bin"
{
    good 2 n1
    printf '\000\000\000\n'
    printf '{"eventTime":"2024-03-04T10:00:00Z","eventName":"Good","eventID":"nul\000inside"}\n'
    printf '{"eventTime":"2024-03-04T10:00:00Z","eventName":"Good","eventID":"nul-after"}\000\n'
    printf '\000\n'
    good 2 n2
} >"$TMP/nul.log"
hunt_good "$TMP/nul.log" "$TMP/zeros.bin"
expect_status 0 "NUL bytes"
expect_good 4 "NUL bytes: the good events around them"
expect_rejected "5 (malformed_json 5)" "NUL bytes: each NUL line, event and file once"
expect_samples_one_line "NUL bytes"

# --- Invalid UTF-8 ----------------------------------------------------------------------
# Accepted (json-c does not check UTF-8, and dropping an event for a byte of its user
# agent would let an attacker hide it); every byte written back is valid UTF-8.
{
    good 1 u0
    printf '{"eventTime":"2024-03-04T10:00:01Z","eventName":"Good","eventID":"u1","userAgent":"a\377b\300\257c\355\240\200d\342\202"}\n'
    printf '{"eventTime":"2024-03-04T10:00:02Z","eventName":"Good","eventID":"u2","userAgent":"\\u0000 then more","x\377":"\370\210\200\200\200"}\n'
    printf '{"eventTime":"2024-03-04T10:00:03Z","eventName":"Good","eventID":"u3","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R\377/S\300"}}\n'
} >"$TMP/utf8.ndjson"
run_t run --no-progress --stats -r "$TMP/fire.yaml" "$TMP/utf8.ndjson"
expect_status 0 "invalid UTF-8"
expect_accepted 4 "invalid UTF-8"
printf '%s\n' "$out" >"$TMP/utf8.out"
expect_json_lines "$TMP/utf8.out" 4 "invalid UTF-8"
run_t hunt --no-progress --count '@userAgent:a?b*' "$TMP/utf8.ndjson"
expect_eq "$out" 1 "a query still matches a value with invalid UTF-8"

# --- A single 100 MiB line, in the middle of good events -------------------------------
big_line() { # the event's own eventName
    printf '{"eventTime":"2024-03-04T10:00:00Z","eventName":"%s","eventID":"big","pad":"' "$1"
    head -c 104857600 /dev/zero | tr '\0' 'a'
    printf '"}\n'
}
{ good 3 h1; big_line Good; good 3 h2; } | run_raw hunt --no-progress --stats --count '@eventName:Good' -
loaded "piped: hunt --no-progress --stats --count @eventName:Good -"
expect_status 0 "a 100 MiB line"
expect_good 6 "a 100 MiB line: the good events around it"
expect_rejected "1 (too_large 1)" "a 100 MiB line"
expect_err_has "<stdin>:4: too_large: line longer than 1048576 bytes" "the reject names the line"
expect_peak_below 64 "a 100 MiB line is never held whole"
# Gzipped, and with a limit that lets it through (the event then costs its size).
{ good 3 h1; big_line Good; good 3 h2; } | gzip -1 | run_raw hunt --no-progress --stats --count '@eventName:Good' -
loaded "piped: hunt --no-progress --stats --count @eventName:Good -"
expect_good 6 "a gzipped 100 MiB line"
expect_rejected "1 (too_large 1)" "a gzipped 100 MiB line"
expect_peak_below 64 "a gzipped 100 MiB line is never held whole"
{ good 3 h1; big_line Good; good 3 h2; } | run_raw hunt --no-progress --stats --count --max-event-size 200M '@eventName:Good' -
loaded "piped: hunt --no-progress --stats --count --max-event-size 200M @ev"
expect_good 7 "--max-event-size 200M lets the 100 MiB event through"
expect_rejected "0" "--max-event-size 200M"

# --- Nesting 100k deep ------------------------------------------------------------------
deep_obj() { perl -e 'print "{\"eventTime\":\"2024-03-04T10:00:00Z\",\"eventName\":\"Good\",\"eventID\":\"deep\",\"x\":", "{\"a\":" x $ARGV[0], "1", "}" x $ARGV[0], "}\n"' "$1"; }
deep_arr() { perl -e 'print "[" x $ARGV[0], "]" x $ARGV[0], "\n"' "$1"; }
{
    good 2 d1
    deep_obj 100000
    deep_arr 100000
    printf '{"Records":[%s]}\n' "$(deep_obj 100000)"
    perl -e 'print "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"message\":\"", "[" x 100000, "\"}]}\n"'
    good 2 d2
} >"$TMP/deep.ndjson"
hunt_good "$TMP/deep.ndjson"
expect_status 0 "nesting 100k deep"
expect_good 4 "nesting 100k deep: the good events around it"
expect_rejected "4 (too_deeply_nested 4)" "nesting 100k deep: object, array, document, message"
expect_samples_one_line "nesting 100k deep"
expect_peak_below 64 "nesting 100k deep"
# At the largest --max-depth (10000) a 9990-deep event is accepted, searched by free text,
# matched, and written whole as a signal's sample.
{ good 1 e1; deep_obj 9990; } >"$TMP/deep-ok.ndjson"
run_t run --no-progress --stats --max-depth 10000 -r "$TMP/fire.yaml" "$TMP/deep-ok.ndjson"
expect_status 0 "a 9990-deep event at --max-depth 10000"
expect_accepted 2 "a 9990-deep event"
expect_eq "$(printf '%s\n' "$out" | grep -c '"type":"signal"')" 2 "a 9990-deep event fires"
expect_eq "$(printf '%s\n' "$out" | grep -o '{"a":{"a":' | wc -l | tr -d ' ')" 4995 \
    "the 9990-deep event is written whole in its sample"
run_t hunt --no-progress --count --max-depth 10000 'nothing-like-this' "$TMP/deep-ok.ndjson"
expect_status 1 "free text over a 9990-deep event"

# --- Wrong types in known fields ---------------------------------------------------------
{
    good 1 w0
    for t in 1709546400 1.5e9 true false null '{}' '[]' '["2024-03-04T10:00:00Z"]' '""' \
        '"yesterday"' '"2024-13-45T99:99:99Z"' '"2024-02-30T10:00:00Z"' '"2024-03-04T10:00:00"x' \
        '"2024-03-04T24:00:01Z"' '"+275760-09-13T00:00:00Z"'; do
        printf '{"eventTime":%s,"eventName":"Good","eventID":"w-time"}\n' "$t"
    done
    k=0
    for u in '"arn:aws:iam::1:user/alice"' 42 null '[]' '[{"arn":"x"}]' true; do
        k=$((k + 1))
        printf '{"eventTime":"2024-03-04T10:00:01Z","eventName":"Good","eventID":"w-ui%d","userIdentity":%s,"sourceIPAddress":%s,"userAgent":%s,"errorCode":%s,"recipientAccountId":%s}\n' \
            "$k" "$u" "$u" "$u" "$u" "$u"
    done
    for r in 5 '"x"' '{"a":1}' null true '[1,"x",null,[]]' '[{"eventTime":"2024-03-04T10:00:02Z","eventName":"Good","eventID":"w-rec"}]'; do
        printf '{"Records":%s}\n' "$r"
    done
    printf '%s\n' '{"detail-type":"AWS API Call via CloudTrail","detail":"a string"}' \
        '{"detail-type":"AWS API Call via CloudTrail","detail":[1]}' \
        '{"detail-type":"AWS API Call via CloudTrail","detail":{"eventTime":"2024-03-04T10:00:03Z","eventName":"Good","eventID":"w-eb"}}' \
        '{"messageType":"DATA_MESSAGE","logEvents":"x"}' \
        '{"messageType":"DATA_MESSAGE","logEvents":[{"message":42},{"message":"not json"},7]}' \
        '{"messageType":7,"logEvents":[]}'
} >"$TMP/types.ndjson"
hunt_good "$TMP/types.ndjson"
expect_status 0 "wrong types"
expect_good 9 "wrong types: 1 good, 6 odd userIdentity, Records, EventBridge"
expect_samples_one_line "wrong types"
# 14 eventTime values and the messageType 7 object: bad time; the eventTime cut by a
# stray x and the CloudWatch message that is no JSON: malformed; 5 Records that are no
# array, 2 EventBridge details that are no object, a logEvents that is no array and 2 log
# events without a message string: bad envelope; the 4 Records elements that are no
# object: not an object.
expect_rejected "31 (malformed_json 2, not_an_object 4, missing_or_bad_event_time 15, bad_envelope 10)" \
    "wrong types"
# Rules that read the mistyped fields (derived attributes, group by, templates) run too.
run_t run --no-progress --stats -r "$TMP/fire.yaml" "$TMP/types.ndjson"
expect_status 0 "run over wrong types"
printf '%s\n' "$out" >"$TMP/types.out"
expect_json_lines "$TMP/types.out" 9 "run over wrong types"

# --- Non-IP sourceIPAddress values ---------------------------------------------------------
ips='AWS-Internal-placeholder
AWS Internal
s3.amazonaws.com
ec2.amazonaws.com

999.1.1.1
1.2.3.4.5
1.2.3
::ffff:
1.2.3.4/24
fe80::1%eth0
2001:db8::1::2
0x7f.0.0.1
127.1
 203.0.113.9
203.0.113.9 
[2001:db8::1]
localhost
%s%n%x
'"$(head -c 3000 /dev/zero | tr '\0' '9')"
{
    good 1 i0
    printf '%s\n' "$ips" | sed 1d | while IFS= read -r ip; do
        printf '{"eventTime":"2024-03-04T10:00:01Z","eventName":"Good","eventID":"ip","sourceIPAddress":"%s","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","accessKeyId":"AKIA1"}}\n' "$ip"
    done
} >"$TMP/ips.ndjson"
nips=$(printf '%s\n' "$ips" | sed 1d | wc -l | tr -d ' ')
run_t hunt --no-progress --stats --count --geoip "$CITY" --asn "$ASN" \
    '@eventName:Good -@network.client.geoip.country.iso_code:* -@network.client.asn.number:*' \
    "$TMP/ips.ndjson"
expect_status 0 "non-IP sourceIPAddress"
expect_accepted $((nips + 1)) "non-IP sourceIPAddress"
expect_eq "$out" "$nips" "non-IP sourceIPAddress: none is located (the good event is)"
run_t hunt --no-progress --count --geoip "$CITY" \
    '@network.client.geoip.invalidAddress:"AWS Internal"' "$TMP/ips.ndjson"
expect_eq "$out" "$nips" "every non-IP value (the empty one too) is AWS Internal to geoip"
run_t hunt --no-progress --count 'CIDR(@network.client.ip, 0.0.0.0/0, ::/0)' "$TMP/ips.ndjson"
expect_eq "$out" 1 "CIDR matches only the real address"
run_t hunt --no-progress --count '@network.client.ip_class:public' "$TMP/ips.ndjson"
expect_eq "$out" 1 "ip_class public: only the real address"
cat >"$TMP/travel.yaml" <<'EOF'
id: hostile-travel
name: Travel over hostile addresses
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
run_t run --no-progress --stats --geoip "$CITY" --asn "$ASN" -r "$TMP/travel.yaml" \
    -r "$TMP/fire.yaml" "$TMP/ips.ndjson"
expect_status 0 "impossible travel over non-IP addresses"
expect_accepted $((nips + 1)) "impossible travel over non-IP addresses"

# --- Unreadable files and directories, symlink loops ------------------------------------
mkdir -p "$TMP/walk/sub" "$TMP/walk/locked"
good 4 r1 >"$TMP/walk/a.ndjson"
good 4 r2 >"$TMP/walk/sub/b.ndjson"
good 1 r3 >"$TMP/walk/locked/c.ndjson"
ln -s loop "$TMP/walk/loop"                 # a symlink to itself
ln -s .. "$TMP/walk/sub/up"                 # a directory loop: never followed
ln -s "$TMP/walk" "$TMP/walk/sub/root"      # another one
ln -s nowhere "$TMP/walk/dangling"          # a dangling symlink
ln -s /proc/self/mem "$TMP/walk/mem"        # a file whose read fails (EIO), even for root
mkfifo "$TMP/walk/fifo" 2>/dev/null || true # not a regular file: skipped, never opened
want_unreadable=3
want_good=8
if [ "$(id -u)" != 0 ]; then # permissions stop only other users than root
    good 1 r4 >"$TMP/walk/secret.ndjson"
    chmod 000 "$TMP/walk/secret.ndjson" "$TMP/walk/locked"
    want_unreadable=5
else
    want_good=9
fi
hunt_good "$TMP/walk"
expect_status 2 "hunt over unreadable files (grep: 2 on errors)"
expect_good "$want_good" "unreadable files: the readable ones are all read"
expect_eq "$(stat_line files | sed 's/.* read, //; s/ unreadable.*//')" "$want_unreadable" \
    "unreadable files and directories are counted"
expect_err_has "trailhound: $TMP/walk/" "the first unreadable path is named"
run_t run --no-progress --stats -r "$TMP/fire.yaml" "$TMP/walk"
expect_status 3 "run over unreadable files exits 3"
expect_eq "$(printf '%s\n' "$out" | grep -c .)" "$want_good" "run: a signal per readable good event"
grep -v '^  \|^    \|trailhound: stats:' "$TMP/err" >"$TMP/err-lines"
expect_eq "$(grep -c . "$TMP/err-lines")" 1 "one line of error besides the stats"
chmod -R u+rwx "$TMP/walk" 2>/dev/null || true
run_t hunt --no-progress --count '@eventName:Good' "$TMP/walk/loop"
expect_status 2 "a symlink loop given as a source"
expect_one_line_err "a symlink loop given as a source"

# --- Broken .mmdb files ---------------------------------------------------------------
# Truncated at many sizes and byte-flipped at many places (the search tree, the data
# section, the metadata): each either fails to open (exit 2, one line naming the file) or
# opens and is survived (failed lookups counted); every event is read either way.
mkdir "$TMP/mmdb"
csize=$(wc -c <"$CITY")
n=0
for cut in 0 1 16 100 1000 3000 $((csize / 4)) $((csize / 2)) $((csize - 100)) $((csize - 14)) $((csize - 1)); do
    head -c "$cut" "$CITY" >"$TMP/mmdb/cut-$cut.mmdb"
    n=$((n + 1))
done
perl -e '
    binmode STDIN; local $/; my $d = <STDIN>; my ($dir, $steps) = @ARGV; my $len = length $d;
    for my $k (0 .. $steps - 1) {
        my $at = int($k * $len / $steps) + 3; my $c = $d;
        substr($c, $at, 8) = substr($c, $at, 8) ^ ("\xa5" x 8);
        open my $o, ">:raw", "$dir/flip-$at.mmdb" or die; print $o $c; close $o;
    }
    # The record pointers all aimed at one place, and the data section all 0xff.
    my $m = index($d, "\xab\xcd\xefMaxMind.com");
    my $c = $d; substr($c, 0, $m > 4096 ? 4096 : $m) = "\x00\x00\x10" x 1365; 
    open my $o, ">:raw", "$dir/tree-zeroed.mmdb" or die; print $o $c; close $o;
' "$TMP/mmdb" 40 <"$CITY"
good 3 g >"$TMP/geo-events.ndjson"
cat "$TMP/ips.ndjson" >>"$TMP/geo-events.ndjson"
mmdb_ok=0
mmdb_refused=0
mmdb_failed=0
for db in "$TMP"/mmdb/*.mmdb; do
    run_t hunt --no-progress --stats --count --geoip "$db" \
        '@eventName:Good @network.client.geoip.country.iso_code:*' "$TMP/geo-events.ndjson"
    case $status in
    0 | 1)
        mmdb_ok=$((mmdb_ok + 1))
        expect_accepted $((nips + 4)) "$(basename "$db"): every event read"
        case "$(stat_line geoip)" in *" 0 failed") ;; *failed) mmdb_failed=$((mmdb_failed + 1)) ;; esac
        ;;
    2)
        mmdb_refused=$((mmdb_refused + 1))
        expect_one_line_err "$(basename "$db") refused"
        expect_err_has "$db" "$(basename "$db"): the error names the file"
        ;;
    *) bad "$(basename "$db"): exit $status" ;;
    esac
done
if [ "$mmdb_ok" -gt 0 ] && [ "$mmdb_refused" -gt 0 ] && [ "$mmdb_failed" -gt 0 ]; then ok; else
    bad "broken .mmdb: $mmdb_ok opened ($mmdb_failed with failed lookups), $mmdb_refused refused: each kind should occur"
fi

# --- Catastrophic regexes -----------------------------------------------------------------
mkdir "$TMP/regex"
for re in '^(a+)+$' '(a|a)*b' '^(a|aa)+$' '(x+x+)+y' '^(\w+\s?)*$' '(.*a){20}' '((a*)*)*b'; do
    n=$((n + 1))
    cat >"$TMP/regex/r$n.yaml" <<EOF
id: hostile-regex-$n
name: A catastrophic regex
tags: [source:cloudtrail]
queries:
  - query: '@userAgent:/$re/'
    group_by: ['@eventID']
options: {evaluation_window: 0, keep_alive: 0, max_signal_duration: 0}
cases:
  - condition: a > 0
    status: low
EOF
done
{
    good 50 x1
    awk 'BEGIN { for (i = 0; i < 200; i++) { s = ""; for (k = 0; k < 40 + i % 30; k++) s = s "a";
        printf "{\"eventTime\":\"2024-03-04T10:01:00Z\",\"eventName\":\"Evil\",\"eventID\":\"x%d\",\"userAgent\":\"%s!\"}\n", i, s } }'
    good 50 x2
} >"$TMP/regex.ndjson"
t0=$(date +%s)
run_t run --no-progress --stats -r "$TMP/regex" -r "$TMP/fire.yaml" "$TMP/regex.ndjson"
t1=$(date +%s)
expect_status 0 "catastrophic regexes"
expect_accepted 300 "catastrophic regexes"
expect_eq "$(printf '%s\n' "$out" | grep -c '"hostile-fire"')" 100 "the good events still fire"
expect_err_has "regex limits" "abandoned matches are counted in --stats"
if [ $((t1 - t0)) -lt 60 ]; then ok; else bad "catastrophic regexes took $((t1 - t0)) s"; fi
# The same without JIT (TRAILHOUND_PCRE2_JIT=0, as under valgrind): PCRE2's interpreter,
# bounded by the match and depth limits, gives the same signals.
cp "$TMP/out" "$TMP/regex-jit.out"
TRAILHOUND_PCRE2_JIT=0 run_t run --no-progress --stats -r "$TMP/regex" -r "$TMP/fire.yaml" \
    "$TMP/regex.ndjson"
expect_status 0 "catastrophic regexes, interpreter"
expect_accepted 300 "catastrophic regexes, interpreter"
expect_err_has "regex limits" "the interpreter's abandoned matches are counted"
if cmp -s "$TMP/out" "$TMP/regex-jit.out"; then ok; else bad "signals differ without JIT"; fi
# 18 a's and a '!' against ^(a|aa)+$: a few thousand steps, within the default limit.
printf '{"eventTime":"2024-03-04T10:01:00Z","eventName":"Evil","userAgent":"aaaaaaaaaaaaaaaaaa!"}\n' \
    >"$TMP/regex-mid.ndjson"
run_t hunt --no-progress --stats --count '@userAgent:/^(a|aa)+$/' "$TMP/regex-mid.ndjson"
expect_status 1 "a slow regex within the default limit"
case "$err" in *"regex limits"*) bad "a slow regex within the default limit was abandoned" ;; *) ok ;; esac
run_t hunt --no-progress --stats --count --regex-match-limit 1000 '@userAgent:/^(a|aa)+$/' \
    "$TMP/regex-mid.ndjson"
expect_status 1 "--regex-match-limit 1000"
expect_err_has "regex limits     1 matches abandoned" "--regex-match-limit abandons and counts"
run_t hunt --no-progress --count --regex-match-limit 100000 --regex-depth-limit 5000 \
    '@userAgent:/^aws-cli\//' "$TMP/regex.ndjson"
expect_eq "$out" 100 "ordinary regexes match under the limits"
run_t hunt --regex-match-limit 0 '@a:/x/' "$TMP/regex.ndjson"
expect_status 2 "--regex-match-limit 0 is refused"
expect_one_line_err "--regex-match-limit 0"
run_t hunt --regex-depth-limit 4294967296 '@a:/x/' "$TMP/regex.ndjson"
expect_status 2 "--regex-depth-limit past 32 bits is refused"

# --- Enormous group cardinality: 200k distinct groups, --max-groups 1000 ------------------
cat >"$TMP/card.yaml" <<'EOF'
id: hostile-cardinality
name: Many principals
tags: [source:cloudtrail]
queries:
  - query: '@eventName:GetObject'
    group_by: ['@userIdentity.arn']
options: {evaluation_window: 5m, keep_alive: 1h}
cases:
  - condition: a > 5
    status: low
EOF
principals() { # N: N events of N distinct principals within four minutes
    awk -v N="$1" 'BEGIN { for (i = 0; i < N; i++) { s = int(i * 240 / N);
        printf "{\"userIdentity\":{\"arn\":\"arn:aws:iam::111122223333:user/u%07d\"},\"eventTime\":\"2024-03-04T10:%02d:%02dZ\",\"eventName\":\"GetObject\",\"eventID\":\"c%d\"}\n", i, s / 60, s % 60, i } }'
}
principals 200000 | run_raw run --no-progress --stats --max-groups 1000 -r "$TMP/card.yaml" -
loaded "piped: run --no-progress --stats --max-groups 1000 -r $TMP/card.yam"
expect_status 0 "200k groups, --max-groups 1000"
expect_accepted 200000 "200k groups"
expect_eq "$(stat_line groups)" "1000 live, 0 expired, 199000 evicted" "evictions are counted"
expect_peak_below 64 "200k groups under --max-groups 1000"
principals 2000 | run_raw run --no-progress --stats --max-groups 1000 -r "$TMP/card.yaml" -
loaded "piped: run --no-progress --stats --max-groups 1000 -r $TMP/card.yam"
expect_eq "$(stat_line groups)" "1000 live, 0 expired, 1000 evicted" "2k groups, --max-groups 1000"
# --max-samples bounds what a signal holds.
{ good 1 s0; good 30 s1 | sed 's/"eventID":"s1-[0-9]*"/"eventID":"same"/'; } >"$TMP/samples.ndjson"
cat >"$TMP/samples.yaml" <<'EOF'
id: hostile-samples
name: Many matches in one signal
tags: [source:cloudtrail]
queries:
  - query: '@eventName:Good'
    group_by: ['@userAgent']
options: {evaluation_window: 1h, keep_alive: 1h}
cases:
  - condition: a > 0
    status: low
EOF
run_t run --no-progress --signal-updates --max-samples 0 -r "$TMP/samples.yaml" "$TMP/samples.ndjson"
expect_eq "$(printf '%s\n' "$out" | tail -n 1 | jq -c '.samples | length')" 0 "--max-samples 0"
run_t run --no-progress --signal-updates --max-samples 5 -r "$TMP/samples.yaml" "$TMP/samples.ndjson"
expect_eq "$(printf '%s\n' "$out" | tail -n 1 | jq -c '.samples | length')" 5 "--max-samples 5"
run_t run --max-samples 1001 -r "$TMP/samples.yaml" "$TMP/samples.ndjson"
expect_status 2 "--max-samples over 1000 is refused"
# Negative sizes were read by strtoull as 2^64 - 1: no limit at all.
for opt in --max-groups=-1 --max-event-size=-5M --max-event-size=+1; do
    run_t run "$opt" -r "$TMP/samples.yaml" "$TMP/samples.ndjson"
    expect_status 2 "$opt is refused"
    expect_one_line_err "$opt"
done

# --- Events before 1970: a signal open at exit stays open (fuzz_rule_yaml's first find:
# freeing the engine closed it, and wrote "closed" after the output was closed). ---------
cat >"$TMP/old.yaml" <<'EOF'
id: hostile-old
name: Key created long ago
tags: [source:cloudtrail]
queries:
  - query: '@eventName:CreateAccessKey'
    group_by: ['@userIdentity.arn']
options: {evaluation_window: 5m, keep_alive: 30m, max_signal_duration: 2h}
cases:
  - condition: a > 0
    status: medium
EOF
printf '%s\n' '{"eventTime":"0313-03-04T10:00:00Z","eventName":"CreateAccessKey","eventID":"old","userIdentity":{"arn":"arn:aws:iam::1:user/a"}}' >"$TMP/old-a.ndjson"
printf '%s\n' '{"eventTime":"2024-03-04T20:00:00Z","eventName":"GetObject","eventID":"new","userIdentity":{"arn":"arn:aws:iam::1:user/a"}}' >"$TMP/old-b.ndjson"
run_t run --no-progress --signal-updates --state "$TMP/old-st" -r "$TMP/old.yaml" "$TMP/old-a.ndjson"
expect_status 0 "a signal opened in year 313"
expect_eq "$(printf '%s\n' "$out" | jq -r .status | tr '\n' ' ')" "new " "only 'new': it stays open at exit"
run_t run --no-progress --signal-updates --state "$TMP/old-st" -r "$TMP/old.yaml" "$TMP/old-b.ndjson"
expect_eq "$(printf '%s\n' "$out" | jq -r .status | tr '\n' ' ')" "closed " "closed once, by the next run"

# --- Hostile rule files --------------------------------------------------------------------
mkdir "$TMP/badrules"
cat >"$TMP/badrules/laughs.yaml" <<'EOF'
id: billion-laughs
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
EOF
perl -e 'print "id: deep\nname: ", "[" x 100000, "]" x 100000, "\n"' >"$TMP/badrules/deep.yaml"
perl -e 'print "id: huge\nname: \"", "x" x 2000000, "\"\n"' >"$TMP/badrules/huge.yaml"
perl -e 'binmode STDOUT; srand(5); print chr(int(rand(256))) for 1 .. 4096' >"$TMP/badrules/binary.yaml"
printf '{"name": "x", "queries": [{"query": "%s"}]}\n' "$(head -c 5000 /dev/zero | tr '\0' '(')" >"$TMP/badrules/parens.json"
printf 'id: include\nname: !include /etc/passwd\nqueries:\n  - query: "@a:b"\ncases:\n  - condition: a > 0\n    status: low\nmessage: "{{@a}} {{/etc/passwd}}"\n' >"$TMP/badrules/include.yaml"
run_t lint "$TMP/badrules"
expect_status 2 "hostile rule files are errors"
for f in laughs deep huge binary parens include; do
    expect_out_has "$TMP/badrules/$f." "$f: reported"
done
nl=$(printf '%s\n' "$out" | grep -c .)
nerr=$(printf '%s\n' "$out" | grep -cE '^[^ ].*: (error|warning): ')
expect_eq "$((nl - 1))" "$nerr" "each diagnostic is one line (plus the summary)"
expect_out_has "aliases are not supported" "an alias (billion laughs) is refused"
expect_out_has "deep.yaml:2:71: error: $TMP/badrules/deep.yaml: nesting deeper than 64 levels" \
    "100k-deep flow nesting is refused at once (libyaml would take minutes)"
expect_out_has "rule file larger than 1048576 bytes" "a rule file over 1 MiB is refused"
expect_out_has "query nested too deeply" "a query nested 5000 deep is refused"
expect_out_has "template sections ('{{/etc/passwd}}') are not supported" \
    "a template cannot name a file"

# --- Security notes -------------------------------------------------------------------
# The state directory is created 0700 and its file 0600, whatever the umask.
(umask 000 && "$TRAILHOUND" run --no-progress --state "$TMP/st/deeper" -r "$TMP/fire.yaml" \
    "$TMP/old-b.ndjson" >/dev/null 2>&1)
expect_eq "$(stat -c %a "$TMP/st/deeper" 2>/dev/null)" 700 "the state directory is 0700"
expect_eq "$(stat -c %a "$TMP/st/deeper/trailhound.state" 2>/dev/null)" 600 "the state file is 0600"
# Secrets given with -X never reach stdout, stderr or --stats, even in errors.
if "$TRAILHOUND" run --help | grep -q -- '--kafka'; then
    run_t run --no-progress --stats -X sasl.password=hunter2-secret -X ssl.key.password=s3cret-key \
        -r "$TMP/fire.yaml" "$TMP/old-b.ndjson"
    case "$out$err" in *hunter2-secret* | *s3cret-key*) bad "a secret was printed: $err" ;; *) ok ;; esac
    run_t run --no-progress --stats -X sasl.password=hunter2-secret -X no.such.property=1 \
        -r "$TMP/fire.yaml" -o kafka://127.0.0.1:1/signals "$TMP/old-b.ndjson"
    case "$out$err" in *hunter2-secret*) bad "a secret was printed in an error: $err" ;; *) ok ;; esac
    printf 'kafka:\n  sasl.password: hunter2-secret\n  bogus: [1]\n' >"$TMP/secret.yaml"
    run_t run -c "$TMP/secret.yaml" -r "$TMP/fire.yaml" "$TMP/old-b.ndjson"
    expect_status 2 "a bad settings file"
    case "$out$err" in *hunter2-secret*) bad "a secret was printed from -c: $err" ;; *) ok ;; esac
fi

finish
