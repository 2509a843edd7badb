#!/bin/sh
# test_rule_tests.sh - `trailhound test` through the real binary, over a rule pack and
# fixtures built here the way the README tells rule authors to (expected.jsonl written by
# `trailhound run` inside the case directory): one line per case, the exact final line
# "N passed, N failed", exit codes 0/1/2, the diff under a FAIL line, --allow-untested,
# --filter, --fixtures, the default ./rules and ./fixtures, `args` files parsed like run's
# options (including --format ocsf, checked with jq), byte-identical runs, and the JUnit
# file (well-formed: checked with xmllint when it is installed, structurally with grep
# always).
. "$(dirname "$0")/lib.sh"

T="$TMP/pack"
mkdir -p "$T/rules/disc" "$T/rules/other"
cat >"$T/rules/disc/t-one.yaml" <<'EOF'
id: t-one
name: One
tags: [tactic:TA0007-discovery, technique:T1580-cloud-infrastructure-discovery]
queries:
  - query: '@evt.name:Describe*'
    group_by: ['@userIdentity.arn']
options: {evaluation_window: 0}
cases: [{condition: a > 0, status: low}]
message: '{{@userIdentity.arn}} described'
EOF
ev() { # SECOND NAME
    printf '{"eventTime":"2024-03-04T10:00:%sZ","eventID":"id%s","eventName":"%s","userIdentity":{"arn":"arn:aws:iam::111122223333:user/bob"}}\n' \
        "$1" "$1" "$2"
}
mkcase() { # RULE CASE EVENTS [ARGS]: writes the case and its expected.jsonl via `run`
    d="$T/fixtures/$1/$2"
    mkdir -p "$d"
    printf '%s\n' "$3" >"$d/events.ndjson"
    [ -n "${4:-}" ] && printf '%s\n' "$4" >"$d/args"
    # shellcheck disable=SC2046 # the args are meant to split
    (cd "$d" && "$TRAILHOUND" run --no-progress -r "$T/rules/disc/$1.yaml" \
        $(cat args 2>/dev/null) events.ndjson >expected.jsonl)
}
mkcase t-one fires-describe "$(ev 01 DescribeInstances)"
mkcase t-one quiet-get "$(ev 02 GetObject)"
mkcase t-one fires-updates "$(ev 01 DescribeInstances; ev 02 DescribeVolumes)" --signal-updates
mkcase t-one fires-ocsf "$(ev 01 DescribeInstances)" "--format ocsf"
mkdir -p "$T/fixtures/t-one/error-unknown-query"
printf 'id: t-one\nname: One\nqueries: [{query: a}]\ncases: [{condition: b > 0, status: low}]\n' \
    >"$T/fixtures/t-one/error-unknown-query/rule.yaml"
echo "condition names an unknown query 'b'" >"$T/fixtures/t-one/error-unknown-query/expected_error"

expect_eq "$(wc -l <"$T/fixtures/t-one/fires-describe/expected.jsonl" | tr -d ' ')" 1 "the firing case has its signal"
expect_eq "$(wc -c <"$T/fixtures/t-one/quiet-get/expected.jsonl" | tr -d ' ')" 0 "the quiet case has none"
expect_eq "$(wc -l <"$T/fixtures/t-one/fires-updates/expected.jsonl" | tr -d ' ')" 2 "args: --signal-updates gives the update"
# The OCSF case: Detection Findings (class 2004) with the rule as the analytic.
expect_eq "$(jq -c '[.class_uid, .activity_id, .finding_info.analytic.uid, .finding_info.attacks[0].technique.uid]' \
    "$T/fixtures/t-one/fires-ocsf/expected.jsonl")" '[2004,1,"t-one","T1580"]' "--format ocsf writes Detection Findings"

# Everything passes: one line per case in name order, then the exact summary line.
run_th test --fixtures "$T/fixtures" "$T/rules"
expect_status 0 "all cases pass"
expect_eq "$out" "ok   t-one/error-unknown-query
ok   t-one/fires-describe
ok   t-one/fires-ocsf
ok   t-one/fires-updates
ok   t-one/quiet-get
5 passed, 0 failed" "the report of a passing pack"
expect_eq "$err" "" "nothing on stderr"
first=$out
run_th test --fixtures "$T/fixtures" "$T/rules"
expect_eq "$out" "$first" "two runs print the same bytes"

# The defaults: ./rules and ./fixtures.
status=0
out=$(cd "$T" && "$TRAILHOUND" test 2>&1) || status=$?
expect_status 0 "the defaults ./rules and ./fixtures"
expect_eq "$(printf '%s\n' "$out" | tail -n 1)" "5 passed, 0 failed" "the defaults find the pack"

# A rule without fixtures fails, or is skipped with --allow-untested.
printf 'id: t-two\nname: Two\nqueries: [{query: x}]\ncases: [{condition: a > 0, status: high}]\n' \
    >"$T/rules/other/t-two.yaml"
run_th test --fixtures "$T/fixtures" "$T/rules"
expect_status 1 "a rule without fixtures"
expect_out_has "FAIL t-two: no fixtures: add $T/fixtures/t-two/" "the untested rule is named"
expect_eq "$(printf '%s\n' "$out" | tail -n 1)" "5 passed, 1 failed" "the summary counts it"
run_th test --allow-untested --fixtures "$T/fixtures" "$T/rules"
expect_status 0 "--allow-untested"
expect_out_has "skip t-two: no fixtures" "--allow-untested reports a skip"
expect_eq "$(printf '%s\n' "$out" | tail -n 1)" "5 passed, 0 failed" "a skip is neither passed nor failed"
run_th test --filter one --fixtures "$T/fixtures" "$T/rules"
expect_status 0 "--filter leaves the untested rule out"
case "$out" in *t-two*) bad "--filter: t-two reported" ;; *) ok ;; esac
rm "$T/rules/other/t-two.yaml"

# A different expected output: exit 1, the FAIL line, the diff under it.
cp "$T/fixtures/t-one/fires-describe/expected.jsonl" "$TMP/saved"
sed 's/described/descrobed/' "$TMP/saved" >"$T/fixtures/t-one/fires-describe/expected.jsonl"
run_th test --fixtures "$T/fixtures" --junit "$TMP/junit.xml" "$T/rules"
expect_status 1 "a case that fails"
expect_out_has "FAIL t-one/fires-describe: the output differs from expected.jsonl (expected 1 line, got 1)
    --- expected.jsonl
    +++ got
    @@ line 1 @@
    -" "the FAIL line and its diff"
expect_out_has "descrobed" "the diff shows the expected text"
expect_eq "$(printf '%s\n' "$out" | grep -c '^    +')" 2 "the diff shows what the engine wrote"
expect_eq "$(printf '%s\n' "$out" | tail -n 1)" "4 passed, 1 failed" "the summary line"
expect_out_has "ok   t-one/quiet-get" "the other cases still run"

# The JUnit file: well-formed, one testsuite per rule, one testcase per result.
J="$TMP/junit.xml"
expect_eq "$(head -n 1 "$J")" '<?xml version="1.0" encoding="UTF-8"?>' "junit: XML declaration"
expect_eq "$(grep -c '<testsuites name="trailhound test" tests="5" failures="1" errors="0" skipped="0">' "$J")" 1 "junit: totals"
expect_eq "$(grep -c '<testsuite name="t-one" tests="5" failures="1"' "$J")" 1 "junit: the rule's suite"
expect_eq "$(grep -c '<testcase classname="t-one" name="' "$J")" 5 "junit: one testcase per case"
expect_eq "$(grep -c '<testcase classname="t-one" name="fires-describe">' "$J")" 1 "junit: the failed case"
expect_eq "$(grep -c '<failure message="the output differs from expected.jsonl' "$J")" 1 "junit: the failure"
expect_eq "$(grep -c '</failure>' "$J")" 1 "junit: the failure is closed"
expect_eq "$(grep -c '</testsuite>' "$J")" 1 "junit: the suite is closed"
expect_eq "$(tail -n 1 "$J")" "</testsuites>" "junit: the document is closed"
# The diff inside <failure>: its JSON quotes escaped, none raw.
if grep -q '^-.*descrobed.*&quot;' "$J"; then ok; else bad "junit: the diff is in the failure, escaped"; fi
if grep '^[-+]' "$J" | grep -q '"'; then bad "junit: raw quotes inside the XML text"; else ok; fi
if command -v xmllint >/dev/null 2>&1; then
    if xmllint --noout "$J" 2>"$TMP/xmllint"; then ok; else bad "junit: xmllint: $(cat "$TMP/xmllint")"; fi
fi
cp "$J" "$TMP/junit1.xml"
run_th test --fixtures "$T/fixtures" --junit "$TMP/junit.xml" "$T/rules"
if cmp -s "$J" "$TMP/junit1.xml"; then ok; else bad "junit: two runs differ"; fi
cp "$TMP/saved" "$T/fixtures/t-one/fires-describe/expected.jsonl"

# A stray fixture directory, an empty case, an args file that names rules.
mkdir -p "$T/fixtures/t-onee/fires-x" "$T/fixtures/t-one/quiet-nothing"
run_th test --fixtures "$T/fixtures" "$T/rules"
expect_status 1 "a stray fixture directory and an empty case"
expect_out_has "FAIL t-one/quiet-nothing: nothing to run" "the empty case"
expect_out_has "FAIL t-onee: $T/fixtures/t-onee/ is named after no loaded rule" "the stray directory"
rm -r "$T/fixtures/t-onee" "$T/fixtures/t-one/quiet-nothing"
echo "-r elsewhere.yaml" >"$T/fixtures/t-one/quiet-get/args"
run_th test --fixtures "$T/fixtures" "$T/rules"
expect_status 1 "args naming rules"
expect_out_has "FAIL t-one/quiet-get: args: sources, --rules and --output are the runner's business" "args naming rules: reason"
echo "--no-such-option" >"$T/fixtures/t-one/quiet-get/args"
run_th test --fixtures "$T/fixtures" "$T/rules"
expect_status 1 "args with an unknown option"
expect_out_has "FAIL t-one/quiet-get: args: not options of trailhound run" "unknown option in args: reason"
expect_err_has "no-such-option" "the option parser names it on stderr"
rm "$T/fixtures/t-one/quiet-get/args"

# GeoIP in a fixture: --geoip in args, relative to the case directory; never the machine's
# own databases (TRAILHOUND_GEOIP_DIRS points at one here, and must not be searched).
G="$T/geo"
mkdir -p "$G/rules" "$G/fixtures/t-geo/fires-gb" "$G/fixtures/t-geo/quiet-us" "$G/dbs"
cat >"$G/rules/t-geo.yaml" <<'EOF'
id: t-geo
name: Geo
queries: [{query: '@network.client.geoip.country.iso_code:GB', group_by: ['@userIdentity.arn']}]
options: {evaluation_window: 0}
cases: [{condition: a > 0, status: low}]
EOF
gev() { # IP
    printf '{"eventTime":"2024-03-04T10:00:00Z","eventID":"g1","eventName":"ListBuckets","sourceIPAddress":"%s","userIdentity":{"arn":"arn:aws:iam::111122223333:user/bob"}}\n' "$1"
}
for c in fires-gb quiet-us; do
    cp "$TH_SRC/tests/geoip/trailhound-City-Test.mmdb" "$G/fixtures/t-geo/$c/City.mmdb"
    echo "--geoip City.mmdb" >"$G/fixtures/t-geo/$c/args"
done
gev 192.0.2.10 >"$G/fixtures/t-geo/fires-gb/events.ndjson"
gev 203.0.113.10 >"$G/fixtures/t-geo/quiet-us/events.ndjson"
(cd "$G/fixtures/t-geo/fires-gb" && "$TRAILHOUND" run --no-progress -r "$G/rules/t-geo.yaml" \
    --geoip City.mmdb events.ndjson >expected.jsonl)
: >"$G/fixtures/t-geo/quiet-us/expected.jsonl"
expect_eq "$(grep -c '"type":"signal"' "$G/fixtures/t-geo/fires-gb/expected.jsonl")" 1 "the GeoIP case fires by hand"
cp "$TH_SRC/tests/geoip/trailhound-City-Test.mmdb" "$G/dbs/GeoLite2-City.mmdb"
TRAILHOUND_GEOIP_DIRS="$G/dbs"
export TRAILHOUND_GEOIP_DIRS
run_th test --fixtures "$G/fixtures" "$G/rules"
expect_status 0 "GeoIP cases with --geoip in args"
expect_eq "$(printf '%s\n' "$out" | tail -n 1)" "2 passed, 0 failed" "both GeoIP cases pass"
rm "$G/fixtures/t-geo/quiet-us/args"
run_th test --fixtures "$G/fixtures" "$G/rules"
expect_status 1 "a GeoIP rule without --geoip"
expect_out_has "FAIL t-geo/quiet-us: the engine warned: " "the disabled rule fails its case, even quiet"
unset TRAILHOUND_GEOIP_DIRS

# A broken rule in the pack is a failure of that rule.
printf 'id: t-bad\nname: Bad\nbogus: 1\nqueries: [{query: x}]\ncases: [{condition: a > 0, status: low}]\n' \
    >"$T/rules/other/t-bad.yaml"
run_th test --fixtures "$T/fixtures" "$T/rules"
expect_status 1 "a rule that does not load"
expect_out_has "FAIL t-bad: the rule does not load: $T/rules/other/t-bad.yaml:3:1: unknown key 'bogus'" "the broken rule"
rm "$T/rules/other/t-bad.yaml"

# Usage errors: exit 2 with one line on stderr.
run_th test --bogus
expect_status 2 "an unknown option"
expect_one_line_err "an unknown option"
run_th test --fixtures "$T/fixtures" --filter zzz "$T/rules"
expect_status 2 "a filter that matches nothing"
expect_err_has "no rule id contains 'zzz'" "the filter message"
run_th test --fixtures "$TMP/none" "$T/rules"
expect_status 2 "a missing fixtures directory"
expect_one_line_err "a missing fixtures directory"
run_th test --fixtures "$T/fixtures" "$TMP/no-rules-here"
expect_status 2 "a missing rule path"
expect_err_has "no-rules-here" "the missing path is named"
run_th test --fixtures "$T/fixtures" --junit "$TMP/no/such/dir/j.xml" "$T/rules"
expect_status 2 "a JUnit file that cannot be written"
expect_one_line_err "a JUnit file that cannot be written"
run_th test --fixtures
expect_status 2 "--fixtures without a value"
run_th test --help
expect_status 0 "test --help"
for o in --fixtures --filter --allow-untested --junit; do expect_out_has "$o" "test --help documents $o"; done
run_th --help
expect_out_has "test " "trailhound --help lists test"

finish
