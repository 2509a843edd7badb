#!/bin/sh
# test_kafka_group.sh - two `trailhound run` processes in one consumer group split the
# partitions of a topic (SPEC §13), through librdkafka's mock cluster:
#   - the second member's arrival moves partitions (a cooperative rebalance): the first
#     saves the state of the partitions that go and commits them before letting go, and
#     the second, sharing the state directory, goes on from that state;
#   - every event is evaluated exactly once across the two: the sum of their event
#     counters is the number of events produced, and both took a share;
#   - the signals of the two outputs together are exactly those of one run over a file of
#     the same events (per-partition state: the topic is keyed by principal);
#   - when one member leaves (SIGTERM), the other takes its partitions and their state
#     over and goes on: the next calls of its principals update their open signals.
. "$(dirname "$0")/../kafka/lib.sh"
cd "$TMP" || exit 1

# A stateful rule: three calls of one principal within 10 minutes.
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
# batch B N: for 40 principals, N calls each at minute B (one signal per principal once
# the third call comes).
batch() {
    awk -v b="$1" -v n="$2" 'BEGIN { for (k = 0; k < n; k++) for (u = 0; u < 40; u++)
        printf "{\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/u%02d\"},\"eventTime\":\"2024-03-04T10:%02d:%02dZ\",\"eventName\":\"GetCallerIdentity\",\"eventID\":\"b%d-%d-%d\"}\n", u, b, k, b, k, u }'
}
batch 1 2 >b1.ndjson
batch 2 2 >b2.ndjson
batch 3 1 >b3.ndjson
cat b1.ndjson b2.ndjson b3.ndjson >all.ndjson
"$TRAILHOUND" run --no-progress -r rule.yaml all.ndjson >expected.jsonl 2>/dev/null
ids expected.jsonl >expected.ids
expect_eq "$(wc -l <expected.ids | tr -d ' ')" 40 "the file run: one signal per principal"

start_cluster --topic events:4
ARGS="-r rule.yaml --stats --stats-interval 100ms --commit-interval 200ms --state $TMP/st $GROUP_X"
URL="kafka://$BOOT/events?group=g-two"
assigned() { [ "$(metric "$TMP/$1.prom" trailhound_kafka_partitions_assigned)" = "$2" ]; }
events() { metric "$TMP/$1.prom" trailhound_events_total; }
events_eq() { [ "$(events "$1")" -eq "$2" ]; }
sum_is() { [ $(($(events a) + $(events b))) -eq "$1" ]; }
committed() { # the offsets a and b committed, in all
    echo $(($(metric_sum "$TMP/a.prom" trailhound_kafka_committed_offset) +
        $(metric_sum "$TMP/b.prom" trailhound_kafka_committed_offset)))
}
committed_is() { [ "$(committed)" -eq "$1" ]; }
lines_is() { [ "$(cat "$@" | wc -l)" -eq "$N" ]; }

# shellcheck disable=SC2086 # ARGS is several words on purpose
start_engine a $ARGS --metrics "$TMP/a.prom" -o "$TMP/a.jsonl" "$URL"
wait_for 60 assigned a 4 || bad "a: no assignment of the 4 partitions"
produce events b1.ndjson --key userIdentity.arn
wait_for 30 events_eq a 80 || bad "a: batch 1 not read ($(events a) events)"

# shellcheck disable=SC2086
start_engine b $ARGS --metrics "$TMP/b.prom" -o "$TMP/b.jsonl" "$URL"
wait_for 60 assigned b 2 || bad "b: did not get 2 partitions ($(metric b.prom trailhound_kafka_partitions_assigned))"
wait_for 30 assigned a 2 || bad "a: did not give 2 partitions up"
grep -q 'kafka: revoked events/' a.err && ok || bad "a: no revocation reported"

produce events b2.ndjson --key userIdentity.arn
produce events b3.ndjson --key userIdentity.arn
wait_for 30 sum_is 200 || bad "the two did not read every event: $(events a) + $(events b)"
N=40
wait_for 30 lines_is a.jsonl b.jsonl || bad "not every signal came"
# Once everything is committed nothing can be read again: then the counts are final.
wait_for 30 committed_is 200 || bad "not everything was committed: $(committed)"
expect_eq "$(($(events a) + $(events b)))" 200 "no event evaluated twice (a $(events a), b $(events b))"
[ "$(events b)" -gt 0 ] && ok || bad "b evaluated nothing"
[ "$(events a)" -gt 80 ] && ok || bad "a evaluated nothing after b joined"
cat a.jsonl b.jsonl >both.jsonl
ids both.jsonl >got.ids
if cmp -s got.ids expected.ids; then ok; else bad "signals differ from a file run: $(diff expected.ids got.ids | head -5)"; fi
expect_eq "$(wc -l <both.jsonl | tr -d ' ')" 40 "each signal once"

# b leaves: a takes its partitions over with their state (the shared --state directory)
# and reads on from b's commit. The next calls of every principal update open signals:
# no new signal, nothing read twice.
stop_engine b
expect_eq "$status" 0 "b: SIGTERM, exit status ($(tail -n 2 b.err))"
wait_for 60 assigned a 4 || bad "a: did not take the partitions of b back"
ev_a=$(events a)
batch 4 3 >b4.ndjson
produce events b4.ndjson --key userIdentity.arn
wait_for 30 events_eq a $((ev_a + 120)) || bad "a: read $(events a) events, want $ev_a + 120"
wait_for 30 committed_is 320 || bad "after b left, not everything was committed: $(committed)"
expect_eq "$(events a)" $((ev_a + 120)) "after b left: nothing read twice"
N=40
lines_is a.jsonl b.jsonl && ok || bad "after b left: new signals: $(cat a.jsonl b.jsonl | wc -l)"
stop_engine a
expect_eq "$status" 0 "a: SIGTERM, exit status ($(tail -n 2 a.err))"
finish
