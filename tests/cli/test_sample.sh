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
run_th run --no-progress --stats -r "$TH_SRC/rules" "$TMP/sample"
expect_status 0 "replaying the sample"
first=$out
expect_err_has "1964 read, 0 unreadable, 18 digest skipped" "every log read, every digest skipped"
expect_err_has "4000 accepted" "every event accepted"
expect_err_has "rejected         0" "nothing rejected"
# rule id and group of each signal, in output order
got=$(printf '%s\n' "$out" | jq -r '[.rule.id, (.group | to_entries | map(.value) | join(","))] | join(" ")')
want="aws-trufflehog-user-agent arn:aws:iam::111122223333:user/svc-legacy-backup
aws-compromised-key-quarantine 111122223333
aws-bedrock-long-term-key AKIAQWWWGMOUBLCAUDEK
aws-clickops-console-action arn:aws:iam::111122223333:user/alice"
expect_eq "$got" "$want" "the sample's signals"
clickops=$(printf '%s\n' "$out" | jq -r 'select(.rule.id=="aws-clickops-console-action") | .samples[0].eventName')
expect_eq "$clickops" "AuthorizeSecurityGroupIngress" "ClickOps opens on the first console change"
run_th run --no-progress -r "$TH_SRC/rules" "$TMP/sample"
expect_eq "$out" "$first" "two replays are byte-identical"
finish
