#!/bin/sh
# test_coverage.sh - `trailhound coverage` through the real binary: the text table (tactics
# in matrix order, uncovered ones shown, rule ids per technique, the summary line), the
# Markdown table, the ATT&CK Navigator layer checked with jq (layer format 4.5 keys,
# versions, domain, one entry per technique and tactic with score = number of rules and
# comment = their ids), byte-identical runs, rule errors (exit 2, or warnings with
# --skip-bad-rules), usage errors, and the shipped pack's layer.
. "$(dirname "$0")/lib.sh"

R="$TMP/rules"
mkdir -p "$R"
rule() { # ID TAGS
    printf 'id: %s\nname: %s\ntags: %s\nqueries: [{query: x}]\ncases: [{condition: a > 0, status: low}]\n' \
        "$1" "$1" "$2" >"$R/$1.yaml"
}
rule r-a '[tactic:TA0006-credential-access, technique:T1552-unsecured-credentials, technique:T1552.005-cloud-instance-metadata-api]'
rule r-b '[tactic:TA0006-credential-access, technique:T1552-unsecured-credentials, tactic:TA0001-initial-access, technique:T1078.004-cloud-accounts]'
rule r-c '[tactic:TA0040-impact]'
rule r-d '[source:cloudtrail]'

run_th coverage "$R"
expect_status 0 "coverage"
expect_eq "$(printf '%s\n' "$out" | head -n 1)" "MITRE ATT&CK Enterprise v16.1 coverage of 4 rules" "the title line"
expect_eq "$(printf '%s\n' "$out" | tail -n 1)" \
    "ATT&CK Enterprise v16.1: 3 of 14 tactics and 3 techniques (2 of them sub-techniques) covered by 3 rules; 1 rule without ATT&CK tags" \
    "the summary line"
expect_out_has "TA0043 Reconnaissance
  (no rule)" "an uncovered tactic is shown"
expect_out_has "Rules without ATT&CK tags: r-d" "the untagged rule is named"
expect_eq "$(printf '%s\n' "$out" | grep '^  T1552  ' | sed 's/  */ /g')" \
    " T1552 Unsecured Credentials r-a, r-b" "a technique row with its rules"
expect_eq "$(printf '%s\n' "$out" | grep -n '^TA00' | cut -d' ' -f1 | cut -d: -f2 | tr '\n' ' ')" \
    "TA0043 TA0042 TA0001 TA0002 TA0003 TA0004 TA0005 TA0006 TA0007 TA0008 TA0009 TA0011 TA0010 TA0040 " \
    "tactics in matrix order"
first=$out
run_th coverage "$R"
expect_eq "$out" "$first" "two runs print the same bytes"

run_th coverage --format markdown "$R"
expect_status 0 "--format markdown"
expect_eq "$(printf '%s\n' "$out" | head -n 2 | tr '\n' ' ')" "| Tactic | Technique | Rules | |---|---|---| " "the Markdown header"
expect_out_has '| TA0006 Credential Access | T1552 Unsecured Credentials | `r-a`, `r-b` |' "a Markdown row"
expect_eq "$(printf '%s\n' "$out" | grep -c '^|')" 17 "one row per tactic or technique, plus the header"

run_th coverage --format=navigator "$R"
expect_status 0 "--format navigator"
printf '%s\n' "$out" >"$TMP/layer.json"
if jq -e . "$TMP/layer.json" >/dev/null 2>&1; then ok; else bad "the layer is not JSON"; fi
expect_eq "$(jq -c '[.versions.attack, .versions.navigator, .versions.layer, .domain, (.name | type)]' "$TMP/layer.json")" \
    '["16","5.1.0","4.5","enterprise-attack","string"]' "layer: versions, domain, name"
expect_eq "$(jq -c '[keys[] | select(IN("versions","name","description","domain","customDataURL","filters","sorting","layout","hideDisabled","techniques","gradient","legendItems","showTacticRowBackground","tacticRowBackground","selectTechniquesAcrossTactics","selectSubtechniquesWithParent","selectVisibleTechniques","metadata","links") | not)]' "$TMP/layer.json")" \
    '[]' "layer: only keys of the layer format 4.5"
expect_eq "$(jq -c '[.techniques[] | [.techniqueID, .tactic, .score, .comment, .enabled]]' "$TMP/layer.json")" \
    '[["T1078.004","initial-access",1,"r-b",true],["T1552","credential-access",2,"r-a, r-b",true],["T1552.005","credential-access",1,"r-a",true]]' \
    "layer: one entry per technique and tactic, score and comment"
expect_eq "$(jq -c '[.techniques[] | keys[] | select(IN("techniqueID","tactic","comment","enabled","score","color","metadata","links","showSubtechniques") | not)] | unique' "$TMP/layer.json")" \
    '[]' "layer: only technique keys of the layer format 4.5"
expect_eq "$(jq -c '[.gradient.minValue, .gradient.maxValue, (.gradient.colors | length >= 2)]' "$TMP/layer.json")" \
    '[0,2,true]' "layer: the gradient spans the scores"

# Rule errors: exit 2, or warnings and the good rules with --skip-bad-rules.
printf 'id: r-bad\nname: Bad\ntags: [tactic:TA9999-nope]\nqueries: [{query: x}]\ncases: [{condition: a > 0, status: low}]\n' \
    >"$R/r-bad.yaml"
run_th coverage "$R"
expect_status 2 "a bad rule"
expect_err_has "r-bad.yaml:3:" "the bad rule's location"
expect_err_has "TA9999" "the bad tactic is named"
run_th coverage --skip-bad-rules "$R"
expect_status 0 "--skip-bad-rules"
expect_err_has "warning" "the bad rule becomes a warning"
expect_eq "$(printf '%s\n' "$out" | head -n 1)" "MITRE ATT&CK Enterprise v16.1 coverage of 4 rules" "the good rules are counted"
rm "$R/r-bad.yaml"

# Usage errors.
run_th coverage --format xml "$R"
expect_status 2 "an unknown format"
expect_err_has "unknown format 'xml'" "the format message"
expect_one_line_err "an unknown format"
run_th coverage --bogus
expect_status 2 "an unknown option"
expect_one_line_err "an unknown option"
run_th coverage "$TMP/none"
expect_status 2 "a missing path"
run_th coverage --help
expect_status 0 "coverage --help"
for w in --format navigator markdown --skip-bad-rules; do expect_out_has "$w" "coverage --help documents $w"; done
run_th --help
expect_out_has "coverage " "trailhound --help lists coverage"

# The shipped pack gives a layer with techniques (whatever state its rules are in).
run_th coverage --skip-bad-rules --format navigator "$TH_SRC/rules"
expect_status 0 "the shipped pack"
printf '%s\n' "$out" >"$TMP/pack.json"
expect_eq "$(jq '.techniques | length > 0' "$TMP/pack.json")" true "the shipped pack covers techniques"

finish
