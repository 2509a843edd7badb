#!/bin/sh
# check_sample.sh - checks the sample generator's output with jq, so the sample the README
# replays stays what tests/sample/README.md says it is.
#
#   tests/sample/check_sample.sh GEN_SAMPLE [WORKDIR]
#
# Generates the default sample twice (WORKDIR, default a temporary directory, is removed at the
# end when it was created here) and checks: the two runs are byte-identical; every log file is
# one gzipped single-line {"Records":[...]} object sorted by eventTime, filed under its account
# and region; every digest has CloudTrail's keys and lists existing files; the counts match the
# generator's summary line; the attacks of the README are present. Needs jq, zcat, sha256sum.
# Prints one line per failure and "ok" at the end; exits 1 on any failure.
set -u
gen=${1:?usage: check_sample.sh GEN_SAMPLE [WORKDIR]}
if [ $# -ge 2 ]; then work=$2; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
fail=0
bad() { echo "FAIL: $*"; fail=1; }

rm -rf "$work/a" "$work/b"
summary=$("$gen" "$work/a" 2>&1) || { echo "FAIL: gen_sample: $summary"; exit 1; }
"$gen" "$work/b" 2>/dev/null || bad "second run failed"
(cd "$work/a" && find . -type f | sort | xargs sha256sum) >"$work/a.sum"
(cd "$work/b" && find . -type f | sort | xargs sha256sum) >"$work/b.sum"
cmp -s "$work/a.sum" "$work/b.sum" || bad "two runs with the same arguments differ"

logs=$(find "$work/a" -path '*/CloudTrail/*' -name '*.json.gz' | sort)
digests=$(find "$work/a" -path '*/CloudTrail-Digest/*' -name '*.json.gz' | sort)
nlogs=$(echo "$logs" | wc -l)
ndigests=$(echo "$digests" | wc -l)

# Per file: single line, a non-empty Records array sorted by eventTime, in its own folder.
# shellcheck disable=SC2086
[ "$(zcat $logs | wc -l)" -eq 0 ] || bad "a log file is not a single line"
echo "$logs" | sed 's|.*/AWSLogs/\([0-9]*\)/CloudTrail/\([a-z0-9-]*\)/.*|\1 \2 ok|' >"$work/want"
# shellcheck disable=SC2086
zcat $logs | jq -r '
    if (.Records | type == "array" and length > 0)
       and ([.Records[].eventTime] as $t | $t == ($t | sort))
       and ([.Records[].recipientAccountId] | unique | length == 1)
       and ([.Records[].awsRegion] | unique | length == 1)
    then "\(.Records[0].recipientAccountId) \(.Records[0].awsRegion) ok" else "bad" end' >"$work/got"
diff "$work/want" "$work/got" >/dev/null || bad "log files: bad Records (diff $work/want $work/got)"

keys='["awsAccountId","digestStartTime","digestEndTime","digestS3Bucket","digestS3Object",
"digestPublicKeyFingerprint","digestSignatureAlgorithm","newestEventTime","oldestEventTime",
"previousDigestS3Bucket","previousDigestS3Object","previousDigestHashValue",
"previousDigestHashAlgorithm","previousDigestSignature","logFiles"]'
listed=0
for f in $digests; do
    zcat "$f" | jq -e "keys_unsorted == $keys" >/dev/null || bad "$f: digest keys"
    for k in $(zcat "$f" | jq -r '.logFiles[].s3Object'); do
        [ -f "$work/a/$k" ] || bad "$f lists missing $k"
        listed=$((listed + 1))
    done
done
[ "$listed" -eq "$nlogs" ] || bad "digests list $listed files, there are $nlogs"

# shellcheck disable=SC2086
zcat $logs | jq -c '.Records[]' >"$work/events.ndjson"
nevents=$(wc -l <"$work/events.ndjson")
expect="gen_sample: $nlogs files, $nevents events, $ndigests digests in $work/a"
[ "$summary" = "$expect" ] || bad "summary is '$summary', counted '$expect'"
[ "$ndigests" -eq 18 ] || bad "$ndigests digests, expected 18 (3 accounts x 3 regions x 2 days)"

# The attacks of tests/sample/README.md: "count | jq filter".
while IFS='|' read -r want filter; do
    got=$(jq -c "select($filter)" "$work/events.ndjson" | wc -l)
    [ "$got" -eq "$want" ] || bad "$got events (expected $want) for: $filter"
done <<'EOF'
1|.eventTime == "2024-03-05T09:12:07Z" and .eventName == "GetCallerIdentity" and (.userAgent | test("TruffleHog")) and .userIdentity.userName == "svc-legacy-backup"
1|.eventTime == "2024-03-05T09:15:52Z" and .eventName == "AttachUserPolicy" and .requestParameters.policyArn == "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2"
1|.eventTime == "2024-03-05T09:21:30Z" and .errorCode == "AccessDenied" and .sourceIPAddress == "185.220.101.34"
3|.eventName == "InvokeModel" and (.userIdentity.accessKeyId | startswith("AKIA"))
12|.eventName == "GetSecretValue" and .eventTime >= "2024-03-05T11:20:00Z" and .eventTime < "2024-03-05T11:23:00Z" and .userIdentity.sessionContext.sessionIssuer.userName == "app-reporting"
1|.eventTime == "2024-03-05T14:03:12Z" and .requestParameters.ipPermissions.items[0].ipRanges.items[0].cidrIp == "0.0.0.0/0" and .requestParameters.ipPermissions.items[0].fromPort == 22
1|.eventTime == "2024-03-05T16:05:44Z" and .userIdentity.userName == "dave" and .sourceIPAddress == "175.41.150.27"
0|.eventName == "ConsoleLogin" and .sessionCredentialFromConsole
EOF

# The ClickOps query of SPEC section 5, in jq: exactly alice's four hand-made changes.
clickops=$(jq -r 'select(((.userAgent // "") | test("^(console\\.amazonaws\\.com|Coral/Jakarta|Coral/Netty4|AWS CloudWatch Console)$|^S3Console/|^\\[S3Console|^Mozilla/|^onsole\\..*\\.amazonaws\\.com$|^aws-internal.*AWSLambdaConsole/"))
    and ((.eventName | test("^(Get|Describe|List|Head)|^(DownloadDBLogFilePortion|TestScheduleExpression|TestEventPattern|LookupEvents|listDnssec|Decrypt|REST.GET.OBJECT_LOCK_CONFIGURATION|ConsoleLogin)$")) | not)
    and (.userIdentity.invokedBy != "AWS Internal")) | .eventName' "$work/events.ndjson" | tr '\n' ' ')
[ "$clickops" = "AuthorizeSecurityGroupIngress PutBucketPolicy CreateAccessKey PutBucketVersioning " ] ||
    bad "ClickOps matches: $clickops"

[ "$fail" -eq 0 ] && echo "ok: $summary"
exit "$fail"
