#!/bin/sh
# test_commands.sh - the command line through the real binary: help, usage errors, exit
# codes of SPEC §2, output destinations, stdin, and one-line error messages.
. "$(dirname "$0")/lib.sh"
F="$TH_SRC/tests/golden/cases"

run_th --help
expect_status 0 "--help"
for c in run hunt lint version; do expect_out_has "$c" "--help lists $c"; done
run_th run --help
expect_status 0 "run --help"
for o in --rules --output --format --signal-updates --fail-on-signal --stats --max-lateness; do
    expect_out_has "$o" "run --help documents $o"
done
run_th hunt --help
expect_out_has "--count" "hunt --help documents --count"
run_th lint --help
expect_status 0 "lint --help"
run_th version
expect_status 0 "version"
expect_out_has "trailhound 0." "version prints the version"
expect_out_has "ATT&CK Enterprise" "version names the ATT&CK version"

run_th frobnicate
expect_status 2 "unknown command"
expect_err_has "unknown command 'frobnicate'" "unknown command message"
expect_one_line_err "unknown command"
run_th
expect_status 2 "no command"
run_th run -r "$F/threshold-count-window/rule.yaml"
expect_status 2 "run without a source"
expect_err_has "expected at least one SOURCE" "run without a source: message"
expect_one_line_err "run without a source"
run_th run --bogus x
expect_status 2 "unknown option"
expect_one_line_err "unknown option"
run_th run --max-lateness 5parsecs -r "$F/threshold-count-window/rule.yaml" x
expect_status 2 "bad duration"
expect_err_has "bad duration '5parsecs'" "bad duration message"
run_th run --format xml x
expect_status 2 "bad format"
expect_err_has "unknown format 'xml'" "bad format message"

# A missing source: exit 3, the other source still processed.
case_dir="$F/threshold-count-window"
run_th run --no-progress -r "$case_dir/rule.yaml" "$TMP/missing.json" "$case_dir/input"
expect_status 3 "a missing source"
expect_err_has "missing.json" "a missing source is named"
expect_one_line_err "a missing source"
expect_eq "$(printf '%s\n' "$out" | grep -c '"type":"signal"')" 1 "the other source still gave its signal"

# --fail-on-signal
run_th run --no-progress --fail-on-signal -r "$case_dir/rule.yaml" "$case_dir/input"
expect_status 1 "--fail-on-signal with signals"
run_th run --no-progress --fail-on-signal -r "$case_dir/rule.yaml" "$F/input-formats/input"
expect_status 0 "--fail-on-signal without signals"
expect_eq "$out" "" "no signals, no output"

# stdin, and -o appends to a file.
run_th run --no-progress -r "$case_dir/rule.yaml" - <"$case_dir/input"
expect_status 0 "stdin"
stdin_out=$out
run_th run --no-progress -r "$case_dir/rule.yaml" "$case_dir/input"
expect_eq "$stdin_out" "$out" "stdin gives the same signals as the file"
run_th run --no-progress -r "$case_dir/rule.yaml" -o "$TMP/signals.jsonl" "$case_dir/input"
run_th run --no-progress -r "$case_dir/rule.yaml" -o "$TMP/signals.jsonl" "$case_dir/input"
expect_eq "$(wc -l <"$TMP/signals.jsonl" | tr -d ' ')" 2 "-o appends"
run_th run --no-progress -r "$case_dir/rule.yaml" -o "$TMP/no/such/dir/x" "$case_dir/input"
expect_status 2 "-o into a missing directory"
expect_one_line_err "-o into a missing directory"

# Rules: missing path, no rules.
run_th run -r "$TMP/none" "$case_dir/input"
expect_status 2 "missing rules path"
mkdir "$TMP/empty"
run_th run -r "$TMP/empty" "$case_dir/input"
expect_status 2 "no rules"
expect_err_has "no rules" "no rules message"

finish
