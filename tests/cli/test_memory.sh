#!/bin/sh
# test_memory.sh - state stays bounded with a million distinct principals (SPEC §10): one
# threshold rule grouped by principal, 1,000,000 distinct principals through the real
# binary with --max-groups 200000. The least recently used groups are evicted and counted
# exactly, and the peak memory of the run is no larger than that of a run over 400,000
# principals: past the cap, memory does not grow with the input. (The absolute figure for
# a million live groups, in a Release build, is in the README's State section.)
. "$(dirname "$0")/lib.sh"
# Under AddressSanitizer, freed memory waits in a quarantine (256 MiB by default) before
# reuse, so eviction churn would show as growth that a normal build does not have.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"

cat >"$TMP/rule.yaml" <<'RULE'
id: mem-per-principal
name: Reads per principal
tags: [source:cloudtrail]
queries:
  - query: '@evt.name:GetObject'
    group_by: ['@userIdentity.arn']
options:
  evaluation_window: 1h
  keep_alive: 1h
  max_signal_duration: 1d
cases:
  - condition: a > 5
    status: low
RULE

# principals N: N events within one hour, each from its own principal
principals() {
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
        printf "{\"eventTime\":\"2024-03-04T10:%02d:%02dZ\",\"eventName\":\"GetObject\",\"eventID\":\"e%d\",\"userIdentity\":{\"arn\":\"arn:aws:iam::111122223333:user/u%d\"}}\n", int(i * 3600 / n) / 60, int(i * 3600 / n) % 60, i, i }'
}

peak() { printf '%s\n' "$err" | sed -n 's/.*peak memory *\([0-9.]*\) MiB.*/\1/p'; }

principals 400000 >"$TMP/small.ndjson"
run_th run --no-progress --stats --max-groups 200000 -r "$TMP/rule.yaml" "$TMP/small.ndjson"
expect_status 0 "400,000 principals"
expect_err_has "200000 live, 0 expired, 200000 evicted" "400,000 principals: evictions counted"
small=$(peak)
rm -f "$TMP/small.ndjson"

principals 1000000 >"$TMP/big.ndjson"
run_th run --no-progress --stats --max-groups 200000 -r "$TMP/rule.yaml" "$TMP/big.ndjson"
expect_status 0 "1,000,000 principals"
expect_err_has "1000000 accepted" "every event accepted"
expect_err_has "200000 live, 0 expired, 800000 evicted" "1,000,000 principals: evictions counted"
big=$(peak)
rm -f "$TMP/big.ndjson"
echo "peak memory: $small MiB for 400,000 principals, $big MiB for 1,000,000 (cap 200,000)"
if [ -n "$small" ] && [ -n "$big" ] && awk -v s="$small" -v b="$big" 'BEGIN { exit !(b <= s * 1.25) }'; then
    ok
else
    bad "memory grew with the principals past the cap: $small MiB -> $big MiB"
fi
finish
