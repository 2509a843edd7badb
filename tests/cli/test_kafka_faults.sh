#!/bin/sh
# test_kafka_faults.sh - at-least-once through faults (SPEC §13), with librdkafka's mock
# cluster and the real binary:
#   - every broker goes down and comes back (rd_kafka_mock_broker_set_down / _up): the
#     engine waits, reconnects, and every signal comes;
#   - kill -9 in the middle of the stream, then a restart with the same --state: every
#     expected signal is present, and signals written twice carry the same id (state and
#     offsets were saved together, so the restart goes on from the last commit);
#   - the output topic has no leader for a while: signals are kept and sent again,
#     consumption pauses meanwhile (back-pressure), and once the leader is back every
#     signal is delivered: none lost, offsets committed only after delivery.
. "$(dirname "$0")/../kafka/lib.sh"
cd "$TMP" || exit 1

# Three calls of one principal within 10 minutes make a signal (state across messages).
cat >rule.yaml <<'EOF'
id: kafka-test-burst
name: Burst of GetCallerIdentity
tags: [source:cloudtrail, tactic:TA0007-discovery, technique:T1087-account-discovery]
queries:
  - query: '@evt.name:GetCallerIdentity'
    group_by: ['@userIdentity.arn']
options: {evaluation_window: 10m, keep_alive: 1h}
cases:
  - condition: a >= 3
    status: medium
message: '{{@userIdentity.arn}} called GetCallerIdentity {{events_matched}} times'
EOF
# batch NAME B N U: N calls at minute B for each of U principals of series NAME.
batch() {
    awk -v s="$1" -v b="$2" -v n="$3" -v nu="$4" 'BEGIN { for (k = 0; k < n; k++)
        for (u = 0; u < nu; u++)
        printf "{\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/%s%03d\"},\"eventTime\":\"2024-03-04T10:%02d:%02dZ\",\"eventName\":\"GetCallerIdentity\",\"eventID\":\"%s-%d-%d-%d\"}\n", s, u, b, k, s, b, k, u }'
}
expected() { # FILE...: the signal ids of one run over the files
    cat "$@" >"$TMP/exp.ndjson"
    "$TRAILHOUND" run --no-progress -r rule.yaml "$TMP/exp.ndjson" 2>/dev/null | ids /dev/stdin
}
events() { metric "$TMP/$1.prom" trailhound_events_total; }
events_eq() { [ "$(events "$1")" -eq "$2" ]; }
lines_ge() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
distinct_is() { [ "$(ids "$1" | wc -l)" -eq "$2" ]; }
committed_is() { [ "$(metric_sum "$TMP/$1.prom" trailhound_kafka_committed_offset)" -eq "$2" ]; }

start_cluster --topic down:3 --topic crash:3 --topic events:2 --topic signals:1
COMMON="-r rule.yaml --stats --stats-interval 100ms --commit-interval 200ms $GROUP_X"

# ---- 1. every broker down, then up --------------------------------------------------------
batch d 1 3 30 >d1.ndjson
batch f 2 3 30 >d2.ndjson
# shellcheck disable=SC2086 # COMMON is several words on purpose
start_engine down $COMMON --metrics "$TMP/down.prom" -o "$TMP/down.jsonl" \
    "kafka://$BOOT/down?group=g-down"
produce down d1.ndjson --key userIdentity.arn
wait_for 60 distinct_is down.jsonl 30 || bad "down: the first signals did not come"
cluster down -1
wait_for 30 grep -q -e 'brokers are down' -e 'Connection refused' down.err ||
    bad "down: the outage was not noticed"
cluster up -1
produce down d2.ndjson --key userIdentity.arn
wait_for 60 distinct_is down.jsonl 60 || bad "down: $(ids down.jsonl | wc -l) signals after the outage, want 60"
wait_for 30 events_eq down 180 || bad "down: $(events down) events, want 180"
stop_engine down
expect_eq "$status" 0 "down: SIGTERM after the outage ($(tail -n 2 down.err))"
ids down.jsonl >got.ids
expected d1.ndjson d2.ndjson >want.ids
if cmp -s got.ids want.ids; then ok; else bad "down: ids differ: $(diff want.ids got.ids | head -4)"; fi

# ---- 2. kill -9 mid-stream, restart with the same state ------------------------------------
# 40 principals: 2 calls each in batch 1, 2 more in batch 2 (signals need both batches,
# so the restart must have batch 1's state), 3 calls of 40 more principals in batch 3.
batch c 1 2 40 >c1.ndjson
batch c 2 2 40 >c2.ndjson
batch e 3 3 40 >c3.ndjson
# shellcheck disable=SC2086
start_engine crash $COMMON --state "$TMP/st" --metrics "$TMP/crash.prom" -o "$TMP/crash.jsonl" \
    "kafka://$BOOT/crash?group=g-crash"
produce crash c1.ndjson --key userIdentity.arn
wait_for 60 events_eq crash 80 || bad "crash: batch 1 not read"
wait_for 30 committed_is crash 80 || bad "crash: batch 1 not committed"
produce crash c2.ndjson --key userIdentity.arn
produce crash c3.ndjson --key userIdentity.arn
wait_for 60 lines_ge crash.jsonl 1 || bad "crash: no signal before the kill"
stop_engine crash KILL
before=$(wc -l <crash.jsonl)
# shellcheck disable=SC2086
start_engine crash2 $COMMON --state "$TMP/st" --exit-at-end --metrics "$TMP/crash2.prom" \
    -o "$TMP/crash.jsonl" "kafka://$BOOT/crash?group=g-crash"
wait_engine crash2 60
expect_eq "$status" 0 "crash: the restart ($(tail -n 2 crash2.err))"
ids crash.jsonl >got.ids
expected c1.ndjson c2.ndjson c3.ndjson >want.ids
expect_eq "$(wc -l <want.ids | tr -d ' ')" 80 "crash: a file run gives 80 signals"
if cmp -s got.ids want.ids; then ok; else bad "crash: ids differ: $(diff want.ids got.ids | head -4)"; fi
# Lines beyond the distinct ids are duplicates: the same signal written again, same id.
lines=$(wc -l <crash.jsonl)
dups=$(sort crash.jsonl | uniq -d | wc -l)
expect_eq "$((lines - 80))" "$(sort crash.jsonl | uniq -d -c | awk '{ n += $1 - 1 } END { print n + 0 }')" \
    "crash: every extra line repeats a whole signal line ($before before the kill, $lines after, $dups repeated)"
[ "$(metric crash2.prom trailhound_events_total)" -lt 280 ] && ok ||
    bad "crash: the restart read everything again (no commit before the kill?)"

# ---- 3. the output topic without a leader for a while --------------------------------------
batch o 1 3 30 >o1.ndjson
batch p 2 3 30 >o2.ndjson
# shellcheck disable=SC2086
start_engine out $COMMON --metrics "$TMP/out.prom" -X message.timeout.ms=1000 \
    -o "kafka://$BOOT/signals" "kafka://$BOOT/events?group=g-out"
produce events o1.ndjson --key userIdentity.arn
wait_for 60 metric_ge out.prom trailhound_output_delivered_total 30 || bad "out: first signals not delivered"
cluster leader signals 0 -1
produce events o2.ndjson --key userIdentity.arn
wait_for 30 metric_ge out.prom trailhound_kafka_paused 1 || bad "out: consumption did not pause"
wait_for 30 metric_ge out.prom trailhound_output_delivery_errors_total 1 ||
    bad "out: no failed delivery (message.timeout.ms 1000)"
held=$(metric out.prom trailhound_output_pending)
[ "$held" -gt 0 ] && ok || bad "out: no signal pending while the topic has no leader"
grep -q 'consumption paused' out.err && ok || bad "out: the pause was not reported"
cluster leader signals 0 1
wait_for 60 metric_ge out.prom trailhound_output_delivered_total 60 || bad "out: signals lost after the outage"
paused0() { [ "$(metric "$TMP/out.prom" trailhound_kafka_paused)" = 0 ]; }
wait_for 30 paused0 || bad "out: consumption did not resume"
wait_for 30 committed_is out 180 || bad "out: not everything committed after the outage"
stop_engine out
expect_eq "$status" 0 "out: SIGTERM after the outage ($(tail -n 2 out.err))"
consume signals 60 >sig.tsv
ids sig.tsv >got.ids
expected o1.ndjson o2.ndjson >want.ids
if cmp -s got.ids want.ids; then ok; else bad "out: ids differ: $(diff want.ids got.ids | head -4)"; fi
finish
