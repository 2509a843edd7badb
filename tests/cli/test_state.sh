#!/bin/sh
# test_state.sh - --state through the real binary (SPEC §10). The acceptance test: runs
# over the two halves of an input with the same --state produce exactly the signals of one
# run over the whole, byte for byte,
#   - for every golden engine case whose input is NDJSON (one event per line), split after
#     every line (so inside windows and inside open signals), and also one run per line
#     (inputs over 40 lines: about 25 split points, and ten runs);
#   - for the bundled sample, its file list split just before and just after the files
#     holding each signal's opening event (the signal then open across the split), at the
#     start, middle and end, and in three parts.
# Then: byte-identical output and snapshot across repeated runs; the directory (0700) and
# file (0600) modes; a corrupt snapshot (truncated, flipped byte, wrong magic, future
# version, empty) is exit 2 with one line naming the file, and --reset-state recovers; a
# changed or removed rule drops its state with a warning; a failed output leaves the
# snapshot as it was; the lock; --stats reports the state and the peak memory.
. "$(dirname "$0")/lib.sh"
: "${GEN_SAMPLE:?set GEN_SAMPLE to the gen_sample binary}"
CASES="$TH_SRC/tests/golden/cases"

# whole CASEDIR: runs the case over its whole input into $TMP/whole.
# split CASEDIR K: runs the first K lines then the rest with one --state into $TMP/split.
case_rules() { if [ -e "$1/rules" ]; then echo "$1/rules"; else echo "$1/rule.yaml"; fi; }
case_args() { if [ -f "$1/args" ]; then cat "$1/args"; fi; }

run_case() { # CASEDIR INPUT [--state DIR]: appends the signals to $TMP/got
    d=$1
    in=$2
    shift 2
    # From the case's directory, as run_case.sh does: args may hold relative paths.
    # shellcheck disable=SC2046 # the case's args are several words on purpose
    (cd "$d" && "$TRAILHOUND" run --no-progress -r "$(case_rules "$d")" $(case_args "$d") \
        "$@" "$in") >>"$TMP/got" 2>"$TMP/case_err" || {
        bad "$(basename "$d"): run failed: $(cat "$TMP/case_err")"
        return 1
    }
}

ncases=0
for d in "$CASES"/*/; do
    d=${d%/}
    name=$(basename "$d")
    [ -f "$d/input" ] && [ ! -f "$d/exit" ] || continue
    # NDJSON only: every line one whole event.
    awk '!/^\{.*\}[[:space:]]*$/ { bad = 1 } END { exit bad }' "$d/input" || continue
    ncases=$((ncases + 1))
    n=$(wc -l <"$d/input")
    : >"$TMP/got"
    run_case "$d" "$d/input"
    mv "$TMP/got" "$TMP/whole"
    # Every split point in small inputs; about 25 in larger ones.
    step=1
    [ "$n" -le 40 ] || step=$((n / 24))
    k=0
    while [ "$k" -le "$n" ]; do
        rm -rf "$TMP/st"
        head -n "$k" "$d/input" >"$TMP/a"
        tail -n +"$((k + 1))" "$d/input" >"$TMP/b"
        : >"$TMP/got"
        run_case "$d" "$TMP/a" --state "$TMP/st" && run_case "$d" "$TMP/b" --state "$TMP/st"
        if cmp -s "$TMP/got" "$TMP/whole"; then
            ok
        else
            bad "$name split after line $k of $n differs from one run: $(diff "$TMP/whole" "$TMP/got" | head -c 1500)"
        fi
        if [ "$k" -lt "$n" ] && [ $((k + step)) -gt "$n" ]; then k=$n; else k=$((k + step)); fi
    done
    # One run per event (per tenth of the input in larger ones).
    chunk=1
    [ "$n" -le 40 ] || chunk=$(((n + 9) / 10))
    rm -rf "$TMP/st"
    : >"$TMP/got"
    i=1
    while [ "$i" -le "$n" ]; do
        sed -n "${i},$((i + chunk - 1))p" "$d/input" >"$TMP/a"
        run_case "$d" "$TMP/a" --state "$TMP/st" || break
        i=$((i + chunk))
    done
    if cmp -s "$TMP/got" "$TMP/whole"; then ok; else bad "$name one run per line differs from one run"; fi
done
if [ "$ncases" -ge 7 ]; then ok; else bad "only $ncases golden cases were split (want the threshold ones at least)"; fi

# ---- the bundled sample, its file list split --------------------------------------------
"$GEN_SAMPLE" "$TMP/sample" 2>/dev/null
R="$TH_SRC/rules"
# The reading order of a directory (README "Input"): CloudTrail objects by the time in
# their name, then path. Digests are left out (the engine skips them anyway).
find "$TMP/sample" -type f -name '*_CloudTrail_*' |
    awk '{ n = split($0, p, "/"); split(p[n], f, "_"); print f[4], $0 }' |
    sort | cut -d' ' -f2- >"$TMP/files"
nfiles=$(wc -l <"$TMP/files")
expect_eq "$nfiles" 1964 "the sample's log files"

sample_run() { # OUT FIRST LAST [OPTIONS...]: runs files FIRST..LAST (1-based) into OUT
    o=$1
    f=$2
    l=$3
    shift 3
    sed -n "${f},${l}p" "$TMP/files" >"$TMP/part"
    status=0
    # shellcheck disable=SC2046 # one argument per file; the sample's paths have no spaces
    "$TRAILHOUND" run --no-progress --signal-updates -r "$R" "$@" $(cat "$TMP/part") \
        >>"$o" 2>"$TMP/sample_err" || status=$?
    [ "$status" = 0 ] || bad "sample files $f-$l: exit $status: $(cat "$TMP/sample_err")"
}

run_th run --no-progress --signal-updates -r "$R" "$TMP/sample"
expect_status 0 "the sample as a directory"
printf '%s\n' "$out" >"$TMP/sample_whole"
: >"$TMP/sample_list"
sample_run "$TMP/sample_list" 1 "$nfiles"
if cmp -s "$TMP/sample_list" "$TMP/sample_whole"; then
    ok
else
    bad "the sample's file list in reading order does not give the directory's signals"
fi
nsig=$(grep -c '"status":"new"' "$TMP/sample_whole")
if [ "$nsig" -ge 5 ]; then ok; else bad "the sample raised only $nsig signals"; fi

# Split points around the files holding each signal's opening event, and evenly spaced.
points=""
for t in $(jq -r 'select(.status=="new") | .last_seen | gsub("[-:]"; "") | .[0:13]' \
    "$TMP/sample_whole"); do
    # The files delivered with the event's window (names carry the end of their window):
    # split just before them (the opening event in the second run, the window's earlier
    # events, if any, in the first) and just after them (the signal open across the split).
    range=$(awk -v t="$t" '{ n = split($0, p, "/"); split(p[n], f, "_"); x = substr(f[4], 1, 13) }
        !first && x >= t { first = NR; w = x } first && x == w { last = NR }
        END { print first - 1, last }' "$TMP/files")
    points="$points $range"
done
points=$(echo "$points 1 $((nfiles / 2)) $((nfiles - 1))" | tr ' ' '\n' | grep . | sort -nu)
nsplit=0
for k in $points; do
    rm -rf "$TMP/st"
    : >"$TMP/sample_split"
    sample_run "$TMP/sample_split" 1 "$k" --state "$TMP/st"
    sample_run "$TMP/sample_split" "$((k + 1))" "$nfiles" --state "$TMP/st"
    nsplit=$((nsplit + 1))
    if cmp -s "$TMP/sample_split" "$TMP/sample_whole"; then
        ok
    else
        bad "the sample split after file $k of $nfiles differs from one run: $(diff "$TMP/sample_whole" "$TMP/sample_split" | head -c 1500)"
    fi
done
if [ "$nsplit" -ge 12 ]; then ok; else bad "only $nsplit sample split points"; fi

# Three runs: day one, the morning of day two, the rest; twice, for determinism of both
# the signals and the snapshot.
day2=$(grep -n '_20240305T0' "$TMP/files" | head -n 1 | cut -d: -f1)
noon=$(grep -n '_20240305T12' "$TMP/files" | head -n 1 | cut -d: -f1)
for rep in 1 2; do
    rm -rf "$TMP/st$rep"
    : >"$TMP/three$rep"
    sample_run "$TMP/three$rep" 1 "$((day2 - 1))" --state "$TMP/st$rep"
    sample_run "$TMP/three$rep" "$day2" "$((noon - 1))" --state "$TMP/st$rep"
    sample_run "$TMP/three$rep" "$noon" "$nfiles" --state "$TMP/st$rep"
done
if cmp -s "$TMP/three1" "$TMP/sample_whole"; then ok; else bad "the sample in three runs differs from one run"; fi
if cmp -s "$TMP/three1" "$TMP/three2"; then ok; else bad "two three-run replays differ"; fi
if cmp -s "$TMP/st1/trailhound.state" "$TMP/st2/trailhound.state"; then
    ok
else
    bad "two identical runs wrote different snapshots"
fi

# ---- the state directory ----------------------------------------------------------------
C="$CASES/threshold-lifecycle"
head -n 6 "$C/input" >"$TMP/first"
tail -n +7 "$C/input" >"$TMP/second"
rm -rf "$TMP/new"
run_th run --no-progress -r "$C/rule.yaml" --state "$TMP/new/deeper/st" "$TMP/first"
expect_status 0 "a missing state directory is created"
expect_eq "$(stat -c %a "$TMP/new/deeper/st")" 700 "the state directory's mode"
expect_eq "$(stat -c %a "$TMP/new/deeper/st/trailhound.state")" 600 "the snapshot's mode"
[ ! -e "$TMP/new/deeper/st/trailhound.state.tmp" ] && ok || bad "the temporary file was left"

# Reference: the second half alone, with no state.
run_th run --no-progress -r "$C/rule.yaml" --signal-updates "$TMP/second"
fresh=$out
run_th run --no-progress -r "$C/rule.yaml" --signal-updates "$TMP/first"
run_th run --no-progress -r "$C/rule.yaml" --signal-updates --state "$TMP/good" "$TMP/first"
cp "$TMP/good/trailhound.state" "$TMP/good.state"
run_th run --no-progress -r "$C/rule.yaml" --signal-updates --state "$TMP/good" "$TMP/second"
with_state=$out
if [ "$with_state" != "$fresh" ]; then ok; else bad "the state made no difference: the test proves nothing"; fi

# ---- corrupt snapshots --------------------------------------------------------------------
size=$(wc -c <"$TMP/good.state")
corrupt() { # NAME PROBLEM: runs over the damaged $TMP/bad/trailhound.state, then the checks
    what=$1
    run_th run --no-progress -r "$C/rule.yaml" --signal-updates --state "$TMP/bad" "$TMP/second"
    expect_status 2 "$what snapshot"
    expect_one_line_err "$what snapshot"
    expect_err_has "$2" "$what snapshot: the problem"
    expect_err_has "$TMP/bad/trailhound.state: " "$what snapshot: the error names the file"
    expect_err_has "--reset-state" "$what snapshot: the error says how to start over"
    expect_eq "$out" "" "$what snapshot: no signals"
    run_th run --no-progress -r "$C/rule.yaml" --signal-updates --state "$TMP/bad" --reset-state "$TMP/second"
    expect_status 0 "$what snapshot with --reset-state"
    expect_eq "$out" "$fresh" "$what snapshot with --reset-state starts empty"
    # ... and overwrote the damage: the next run loads.
    run_th run --no-progress -r "$C/rule.yaml" --state "$TMP/bad" "$TMP/second"
    expect_status 0 "after --reset-state the snapshot loads"
}
setup_bad() { rm -rf "$TMP/bad"; mkdir -m 700 "$TMP/bad"; cp "$TMP/good.state" "$TMP/bad/trailhound.state"; }

setup_bad
head -c $((size / 2)) "$TMP/good.state" >"$TMP/bad/trailhound.state"
corrupt "a truncated" "checksum mismatch"

setup_bad
printf '\377' | dd of="$TMP/bad/trailhound.state" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
corrupt "a flipped-byte" "checksum mismatch"

setup_bad
printf 'NOTSTATE' | dd of="$TMP/bad/trailhound.state" bs=1 seek=0 conv=notrunc 2>/dev/null
corrupt "a wrong-magic" "not a trailhound state file (bad magic)"

setup_bad
printf '\143' | dd of="$TMP/bad/trailhound.state" bs=1 seek=8 conv=notrunc 2>/dev/null
corrupt "a future-version" "state format version 99, this build reads version 1"

setup_bad
: >"$TMP/bad/trailhound.state"
corrupt "an empty" "truncated state file (0 bytes)"

run_th run --no-progress -r "$C/rule.yaml" --reset-state "$TMP/second"
expect_status 2 "--reset-state without --state"
expect_err_has "--reset-state needs --state DIR" "--reset-state without --state: message"
echo x >"$TMP/plainfile"
run_th run --no-progress -r "$C/rule.yaml" --state "$TMP/plainfile" "$TMP/second"
expect_status 2 "--state on a file"
expect_one_line_err "--state on a file"
expect_err_has "cannot create the state directory" "--state on a file: message"

# ---- changed and removed rules --------------------------------------------------------------
rm -rf "$TMP/rules" "$TMP/st"
mkdir "$TMP/rules"
cp "$C/rule.yaml" "$TMP/rules/lifecycle.yaml"
cp "$CASES/threshold-count-window/rule.yaml" "$TMP/rules/window.yaml"
run_th run --no-progress -r "$TMP/rules" --signal-updates --state "$TMP/st" "$TMP/first"
expect_status 0 "two rules, first half"
printf '# a comment changes the file\n' >>"$TMP/rules/lifecycle.yaml"
rm "$TMP/rules/window.yaml"
run_th run --no-progress -r "$TMP/rules" --signal-updates --state "$TMP/st" "$TMP/second"
expect_status 0 "a changed rule"
expect_err_has "warning: state: rule test-lifecycle changed since the snapshot was saved; its state was dropped" \
    "a changed rule's state is dropped with a warning"
expect_err_has "warning: state: 1 rule in the snapshot is no longer loaded; its state was dropped" \
    "a removed rule's state is dropped with a warning"
expect_eq "$out" "$fresh" "a changed rule starts empty"

# ---- output failure, lock, stats ---------------------------------------------------------------
rm -rf "$TMP/st"
mkdir -m 700 "$TMP/st"
cp "$TMP/good.state" "$TMP/st/trailhound.state"
if [ -w /dev/full ]; then
    run_th run --no-progress -r "$C/rule.yaml" --state "$TMP/st" -o /dev/full "$TMP/second"
    expect_status 2 "output to a full disk"
    expect_err_has "state not saved" "no snapshot when the signals were not written"
    if cmp -s "$TMP/st/trailhound.state" "$TMP/good.state"; then ok; else bad "a failed output changed the snapshot"; fi
fi
status=0
flock -n "$TMP/st/trailhound.lock" "$TRAILHOUND" run --no-progress -r "$C/rule.yaml" \
    --state "$TMP/st" "$TMP/second" >"$TMP/out" 2>"$TMP/err" || status=$?
err=$(cat "$TMP/err")
expect_status 2 "a state directory in use"
expect_err_has "in use by another trailhound process" "the lock's message"
expect_one_line_err "a state directory in use"

run_th run --no-progress --stats -r "$C/rule.yaml" --state "$TMP/st" "$TMP/second"
expect_status 0 "--stats with --state"
expect_err_has "state            loaded $size bytes in" "--stats reports the snapshot loaded"
expect_err_has "peak memory      " "--stats reports the peak memory"
saved=$(wc -c <"$TMP/st/trailhound.state")
expect_err_has "saved $saved bytes in" "--stats reports the snapshot saved"
finish
