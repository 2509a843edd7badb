#!/bin/sh
# test_hunt.sh - `trailhound hunt` through the real binary: matching events in their
# original form, --count, grep-like exit codes, and query errors with a column.
. "$(dirname "$0")/lib.sh"
F="$TH_SRC/tests/golden/cases"
in="$F/clickops-verbatim/input"

run_th hunt '@evt.name:PutBucketPolicy' "$in"
expect_status 0 "hunt with matches"
expect_eq "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 4 "hunt prints each match"
# The original form: each printed line is byte-identical to an input line.
printf '%s\n' "$out" >"$TMP/hunted"
missing=$(grep -vxFf "$in" "$TMP/hunted" | wc -l | tr -d ' ')
expect_eq "$missing" 0 "hunt prints events in their original form"

run_th hunt --count '@evt.name:PutBucketPolicy' "$in"
expect_status 0 "hunt --count"
expect_eq "$out" 4 "hunt --count prints the number"
run_th hunt --count '@evt.name:NoSuchEvent' "$in"
expect_status 1 "hunt with no match"
expect_eq "$out" 0 "hunt --count with no match prints 0"
run_th hunt '@evt.name:NoSuchEvent' "$in"
expect_status 1 "hunt with no match exits 1"
expect_eq "$out" "" "hunt with no match prints nothing"

run_th hunt '@evt.name:(Put* OR' "$in"
expect_status 2 "hunt with a bad query"
expect_err_has "query:" "a bad query names its column"
expect_one_line_err "a bad query"
run_th hunt '@evt.name:Put*' "$TMP/missing"
expect_status 2 "hunt with a missing source"

# Several sources and formats: the input-formats case holds 12 RunInstances events.
run_th hunt --count '@evt.name:RunInstances' "$F/input-formats/input"
expect_eq "$out" 12 "hunt reads every format"
run_th hunt --count 'source:cloudtrail' "$F/bad-lines/input"
expect_status 0 "hunt over bad lines"
expect_eq "$out" 5 "hunt counts only good events"
# A query that starts with '-' is a query, not an option; options may follow operands.
run_th hunt --count '-@userAgent:*' "$in"
expect_status 0 "a query starting with -"
expect_eq "$out" 1 "-@userAgent:* counts the one event without a user agent"
run_th hunt '-@userAgent:*' "$in" --count
expect_eq "$out" 1 "an option after the operands"
run_th hunt --count -- '-@userAgent:*' "$in"
expect_eq "$out" 1 "-- ends the options"
finish
