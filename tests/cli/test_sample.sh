#!/bin/sh
# test_sample.sh - the bundled sample end to end: the generator's output is what
# tests/sample/README.md says (check_sample.sh), and replaying it with the shipped rules
# through the real binary gives exactly the signals the README explains, byte-identical
# across two runs, with every digest skipped and nothing rejected.
. "$(dirname "$0")/lib.sh"
: "${GEN_SAMPLE:?set GEN_SAMPLE to the gen_sample binary}"

if sh "$TH_SRC/tests/sample/check_sample.sh" "$GEN_SAMPLE" "$TMP/check" >"$TMP/check.log" 2>&1; then
    ok
else
    bad "check_sample.sh: $(cat "$TMP/check.log")"
fi

"$GEN_SAMPLE" "$TMP/sample" 2>/dev/null
geo="--geoip $TH_SRC/tests/geoip/trailhound-City-Test.mmdb --asn $TH_SRC/tests/geoip/trailhound-ASN-Test.mmdb"
# shellcheck disable=SC2086 # geo holds two options
run_th run --no-progress --stats $geo -r "$TH_SRC/rules" "$TMP/sample"
expect_status 0 "replaying the sample"
first=$out
expect_err_has "1964 read, 0 unreadable, 18 digest skipped" "every log read, every digest skipped"
expect_err_has "4000 accepted" "every event accepted"
expect_err_has "rejected         0" "nothing rejected"
# Each signal as "rule-id first_seen group-values", in output order: exactly the list that
# tests/sample/README.md explains, kept in tests/sample/expected_signals.txt.
got=$(printf '%s\n' "$out" | jq -r '[.rule.id, .first_seen, (.group | to_entries | map(.value) | join(","))] | join(" ")')
want=$(cat "$TH_SRC/tests/sample/expected_signals.txt")
expect_eq "$got" "$want" "the sample's signals are the ones its README explains"
clickops=$(printf '%s\n' "$out" | jq -r 'select(.rule.id=="aws-clickops-console-action") | .samples[0].eventName')
expect_eq "$clickops" "AuthorizeSecurityGroupIngress" "ClickOps opens on the first console change"
# shellcheck disable=SC2086
run_th run --no-progress $geo -r "$TH_SRC/rules" "$TMP/sample"
expect_eq "$out" "$first" "two replays are byte-identical"
finish
