#!/bin/sh
# test_kafka.sh - Kafka through the real binary, against librdkafka's mock cluster
# (tests/kafka/kafka_mock.c) over loopback TCP (SPEC §2, §3, §13):
#   - kafka:// URLs, -X and settings-file errors: exit 2, one line, secrets never shown;
#   - signals end to end from every payload format of SPEC §3 per message (an event, a
#     Records object, EventBridge, CloudWatch Logs, gzip), the same ids as a run over a
#     file of the same events;
#   - poison messages rejected and counted (with their topic/partition@offset), the
#     partition goes on after them;
#   - the periodic stats line (events/s, lag per partition, signals, rejects) and --metrics
#     in the Prometheus text format, replaced atomically;
#   - signals to a Kafka topic, keyed by signal id, from a stream or from files;
#   - SIGTERM (and SIGINT, even when the shell started the run with it ignored): exit 0
#     with the offsets committed (a restart reads nothing again);
#   - offset=latest; a settings file (-c) that holds the same settings, flags winning;
#   - --state per partition, with the offset it goes with; corrupt, ahead, reset.
. "$(dirname "$0")/../kafka/lib.sh"
cd "$TMP" || exit 1

cat >rule.yaml <<'EOF'
id: kafka-test-trufflehog
name: TruffleHog user agent
tags: [source:cloudtrail, tactic:TA0006-credential-access, technique:T1552-unsecured-credentials]
queries:
  - query: '@http.useragent:*TruffleHog*'
    group_by: ['@userIdentity.arn']
options: {evaluation_window: 0, keep_alive: 1h}
cases:
  - condition: a > 0
    status: high
message: '{{@userIdentity.arn}} ran TruffleHog'
EOF
ev() { # N: an event of user uN that the rule fires on
    printf '{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u%d"},"eventTime":"2024-03-04T10:%02d:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userAgent":"TruffleHog","sourceIPAddress":"203.0.113.7","eventID":"e%d","recipientAccountId":"111122223333","awsRegion":"us-east-1"}' "$1" "$1" "$1"
}
cwl() { # N M: a CloudWatch Logs DATA_MESSAGE carrying events N and M as strings
    jq -c -n --arg a "$(ev "$1")" --arg b "$(ev "$2")" '{messageType: "DATA_MESSAGE",
        owner: "111122223333", logGroup: "trail", logStream: "s", subscriptionFilters: ["f"],
        logEvents: [{id: "1", timestamp: 1, message: $a}, {id: "2", timestamp: 1, message: $b}]}'
}

# ---- errors, without a cluster -----------------------------------------------------------
for url in "kafka://127.0.0.1:9/events" "kafka://127.0.0.1:9/events?group=" \
    "kafka://127.0.0.1/events?group=g" "kafka://127.0.0.1:99999/events?group=g" \
    "kafka:///events?group=g" "kafka://h:1/ev*nts?group=g" "kafka://h:1/events?group=g&x=1" \
    "kafka://h:1/events?group=g&offset=middle" "kafka://h:1/?group=g"; do
    run_th run -r rule.yaml "$url"
    expect_status 2 "bad source URL $url"
    expect_one_line_err "bad source URL $url"
done
run_th run -r rule.yaml -o "kafka://h:1/signals?acks=all" events.ndjson
expect_status 2 "an output URL takes no parameters"
expect_err_has "takes no parameters" "an output URL takes no parameters"
run_th run -r rule.yaml -o "kafka://h:1/a,b" events.ndjson
expect_status 2 "an output URL has one topic"
run_th run -r rule.yaml "kafka://h:1/a?group=g" "kafka://h:1/b?group=g"
expect_status 2 "two Kafka sources"
expect_err_has "only source" "two Kafka sources"
run_th run -r rule.yaml "kafka://h:1/a?group=g" rule.yaml
expect_status 2 "a Kafka source and a file"
run_th hunt '@evt.name:*' "kafka://h:1/a?group=g"
expect_status 2 "hunt refuses Kafka"
expect_err_has "Kafka sources are for run" "hunt refuses Kafka"
run_th run -r rule.yaml -X sasl.password:hunter2-typo "kafka://h:1/a?group=g"
expect_status 2 "-X without ="
case "$err" in *hunter2*) bad "-X without '=' printed its argument: $err" ;; *) ok ;; esac
run_th run -r rule.yaml -X no.such.property=1 "kafka://h:1/a?group=g"
expect_status 2 "an unknown -X property"
expect_err_has "no.such.property: not a librdkafka property" "an unknown -X property"
run_th run -r rule.yaml -X enable.auto.commit=true "kafka://h:1/a?group=g"
expect_status 2 "-X enable.auto.commit is trailhound's"
expect_err_has "committed only once the signals are durable" "-X enable.auto.commit"
run_th run -r rule.yaml -X security.protocol=carrier-pigeon "kafka://h:1/a?group=g"
expect_status 2 "a bad -X value"
expect_err_has "security.protocol" "a bad -X value"
run_th run -r rule.yaml -X ssl.key.password=hunter2-secret -X ssl.key.location=/nonexistent \
    -X security.protocol=ssl "kafka://h:1/a?group=g"
expect_status 2 "an SSL key that cannot be read"
case "$out$err" in *hunter2-secret*) bad "a secret was printed: $err" ;; *) ok ;; esac
run_th run -r rule.yaml --commit-interval 0 "kafka://h:1/a?group=g"
expect_status 2 "--commit-interval 0"
run_th run -r rule.yaml --stats-interval 5x "kafka://h:1/a?group=g"
expect_status 2 "--stats-interval 5x"

# Settings file errors: file:line:col and one line.
printf 'rules: [rule.yaml]\nstats: true\nbogus: 1\n' >bad1.yaml
run_th run -c bad1.yaml
expect_status 2 "an unknown setting"
expect_err_has "bad1.yaml:3:1: unknown setting 'bogus'" "an unknown setting"
expect_one_line_err "an unknown setting"
printf 'max_lateness: soon\n' >bad2.yaml
run_th run -c bad2.yaml x
expect_status 2 "a bad duration setting"
expect_err_has "bad2.yaml:1:15: max_lateness: expected a duration" "a bad duration setting"
printf 'kafka:\n  sasl.password: [hunter2-list]\n' >bad3.yaml
run_th run -c bad3.yaml x
expect_status 2 "a property that is not a value"
expect_err_has "bad3.yaml:2:18: kafka: sasl.password: expected a single value" "a property value"
case "$err" in *hunter2*) bad "a settings error printed a secret: $err" ;; *) ok ;; esac
printf 'stats: yes please\n' >bad4.yaml
run_th run -c bad4.yaml x
expect_status 2 "a bad boolean"
expect_err_has "bad4.yaml:1:8: stats: expected true or false" "a bad boolean"
run_th run -c missing.yaml x
expect_status 2 "a missing settings file"
expect_err_has "missing.yaml: cannot open the settings file" "a missing settings file"

# ---- the cluster -------------------------------------------------------------------------
start_cluster --topic events:3 --topic signals:2 --topic fresh:2 --topic filesig:2

# Every payload format of SPEC §3, one per message, keyed by principal; then, in partition
# 0, poison (a truncated event, garbage, an event without eventTime) and one more event.
{
    ev 1
    echo
    printf '{"Records":[%s,%s]}\n' "$(ev 2)" "$(ev 3)"
    printf '{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.sts","account":"111122223333","time":"2024-03-04T10:04:00Z","region":"us-east-1","resources":[],"detail":%s}\n' "$(ev 4)"
    cwl 5 6
    printf '{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination"}]}\n'
} >formats.ndjson
ev 7 >gz1.ndjson
printf '\n{"Records":[%s,%s]}\n' "$(ev 8)" "$(ev 9)" >gz2.ndjson
{
    printf '{"eventTime":"2024-03-04T10:10:00Z","userIdentity":{"arn":\n'
    printf 'binary \001\002 garbage\n'
    printf '{"eventName":"GetCallerIdentity","userAgent":"TruffleHog"}\n'
    ev 10
    echo
} >poison.ndjson
produce events formats.ndjson --key userIdentity.arn
produce events gz1.ndjson --key userIdentity.arn --gzip
produce events gz2.ndjson --key userIdentity.arn --gzip
produce events poison.ndjson --partition 0
cat formats.ndjson gz1.ndjson gz2.ndjson poison.ndjson >all.ndjson
"$TRAILHOUND" run --no-progress -r rule.yaml all.ndjson >expected.jsonl 2>/dev/null
ids expected.jsonl >expected.ids
expect_eq "$(wc -l <expected.ids | tr -d ' ')" 10 "the file run gives one signal per event"

# 1. End to end into a file, with the periodic stats line and the metrics file.
start_engine e2e -r rule.yaml --exit-at-end --stats --stats-interval 200ms \
    --metrics "$TMP/e2e.prom" $GROUP_X "kafka://$BOOT/events?group=g-e2e"
wait_engine e2e 60
expect_eq "$status" 0 "end to end: exit status ($(tail -n 3 e2e.err))"
ids e2e.out >got.ids
if cmp -s got.ids expected.ids; then ok; else bad "end to end: ids differ: $(diff expected.ids got.ids)"; fi
expect_eq "$(wc -l <e2e.out | tr -d ' ')" 10 "end to end: one line per signal"
err=$(cat e2e.err)
expect_err_has "rejected         3 (malformed_json 2, missing_or_bad_event_time 1)" "poison counted"
expect_err_has "events/0@" "a reject names its topic/partition@offset"
expect_err_has "events           10 accepted, 0 late, 1 control messages skipped" "formats: events"
expect_err_has "trailhound: stream: " "the periodic stats line"
expect_err_has "lag 0 (events/0 0, events/1 0, events/2 0)" "lag per partition"
expect_err_has "kafka: assigned events/0" "assignment reported"
expect_eq "$(metric e2e.prom trailhound_events_total)" 10 "metrics: events"
expect_eq "$(metric e2e.prom 'trailhound_rejected_total{reason="malformed_json"}')" 2 \
    "metrics: rejects by reason"
expect_eq "$(metric e2e.prom 'trailhound_signals_total{status="new"}')" 10 "metrics: signals"
expect_eq "$(metric e2e.prom trailhound_kafka_messages_total)" 11 "metrics: messages"
metric_ge e2e.prom trailhound_kafka_commits_total 1 && ok || bad "metrics: no commit"
grep -q '^# TYPE trailhound_events_total counter$' e2e.prom && ok || bad "metrics: no TYPE line"
if ls "$TMP"/e2e.prom.*.tmp >/dev/null 2>&1; then bad "metrics: a temporary file was left"; else ok; fi

# 2. The same events, signals to a Kafka topic: the key of each message is its signal id.
start_engine kout -r rule.yaml --exit-at-end -o "kafka://$BOOT/signals" $GROUP_X \
    "kafka://$BOOT/events?group=g-kout"
wait_engine kout 60
expect_eq "$status" 0 "Kafka output: exit status ($(tail -n 3 kout.err))"
consume signals 10 >signals.tsv
expect_eq "$(wc -l <signals.tsv | tr -d ' ')" 10 "Kafka output: every signal delivered"
ids signals.tsv >kout.ids
if cmp -s kout.ids expected.ids; then ok; else bad "Kafka output: ids differ: $(diff expected.ids kout.ids)"; fi
awk -F '\t' '{ if (index($2, "{\"type\":\"signal\",\"id\":\"" $1 "\"") != 1) bad++ } END { exit bad }' \
    signals.tsv && ok || bad "Kafka output: a key is not its signal's id"

# Files to a Kafka output: the run waits for every delivery, then saves its state.
run_th run --no-progress -r rule.yaml --stats --state "$TMP/filest" -o "kafka://$BOOT/filesig" \
    all.ndjson
expect_status 0 "files to Kafka: exit status"
expect_err_has "10 signals delivered to kafka://" "files to Kafka: deliveries counted"
[ -s filest/trailhound.state ] && ok || bad "files to Kafka: no state saved"
consume filesig 10 >filesig.tsv
ids filesig.tsv >filesig.ids
if cmp -s filesig.ids expected.ids; then ok; else bad "files to Kafka: ids differ"; fi

# 3. SIGTERM: a graceful stop with exit 0 and the offsets committed, so that a restart of
# the group reads nothing again. Meanwhile the metrics file is always whole.
start_engine term -r rule.yaml --stats-interval 100ms --metrics "$TMP/term.prom" $GROUP_X \
    -o "$TMP/term.jsonl" "kafka://$BOOT/events?group=g-term"
wait_for 60 lines_ge term.jsonl 10 || bad "SIGTERM: the signals did not come"
whole=0
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    grep -q '^trailhound_kafka_partitions_assigned ' term.prom && whole=$((whole + 1))
    sleep 0.05
done
expect_eq "$whole" 20 "metrics: every read finds a whole file"
stop_engine term TERM
expect_eq "$status" 0 "SIGTERM: exit status ($(tail -n 3 term.err))"
start_engine term2 -r rule.yaml --exit-at-end --metrics "$TMP/term2.prom" $GROUP_X \
    -o "$TMP/term2.jsonl" "kafka://$BOOT/events?group=g-term"
wait_engine term2 60
expect_eq "$status" 0 "restart after SIGTERM: exit status"
expect_eq "$(metric term2.prom trailhound_kafka_messages_total)" 0 \
    "restart after SIGTERM: nothing is read again"
expect_eq "$(wc -l <term2.jsonl | tr -d ' ')" 0 "restart after SIGTERM: no signal again"

# 4. offset=latest: a new group starts at the end and sees only what comes after.
produce fresh formats.ndjson --key userIdentity.arn
start_engine latest -r rule.yaml --stats-interval 100ms --metrics "$TMP/latest.prom" $GROUP_X \
    -o "$TMP/latest.jsonl" "kafka://$BOOT/fresh?group=g-latest&offset=latest"
wait_for 60 metric_ge latest.prom trailhound_kafka_partitions_assigned 2 ||
    bad "offset=latest: no assignment"
wait_for 10 grep -q 'trailhound_kafka_consumer_lag{topic="fresh",partition="1"} 0' latest.prom ||
    bad "offset=latest: the position is not known"
ev 42 >one.ndjson
produce fresh one.ndjson --key userIdentity.arn
wait_for 30 lines_ge latest.jsonl 1 || bad "offset=latest: the new event gave no signal"
stop_engine latest INT
expect_eq "$status" 0 "offset=latest: SIGINT, exit status"
expect_eq "$(wc -l <latest.jsonl | tr -d ' ')" 1 "offset=latest: only the new event"
grep -q 'user/u42"' latest.jsonl && ok || bad "offset=latest: not the new event's signal"

# 5. A settings file holds the same settings as the flags (sources too); flags win.
cat >cfg.yaml <<EOF
# trailhound run -c cfg.yaml
rules: [rule.yaml]
output: $TMP/cfg.jsonl
exit_at_end: true
stats: true
kafka:
  session.timeout.ms: 4000
  heartbeat.interval.ms: "300"
sources:
  - kafka://$BOOT/events?group=g-cfg
EOF
run_th run --no-progress -c cfg.yaml
expect_status 0 "settings file: exit status"
ids cfg.jsonl >cfg.ids
if cmp -s cfg.ids expected.ids; then ok; else bad "settings file: ids differ"; fi
expect_err_has "trailhound: stats:" "settings file: stats: true"
run_th run --no-progress -c cfg.yaml -o "$TMP/cfg-flag.jsonl" "kafka://$BOOT/events?group=g-cfg2"
expect_status 0 "settings file with flags: exit status"
expect_eq "$(wc -l <cfg-flag.jsonl | tr -d ' ')" 10 "settings file: -o wins"
expect_eq "$(wc -l <cfg.jsonl | tr -d ' ')" 10 "settings file: its output untouched by -o"

# 7. --state: one snapshot per partition, with the offset it goes with; a snapshot ahead
# of the group's commit (a crash between the save and the commit) is where a partition
# starts; a corrupt one stops the run (exit 2) until --reset-state.
run_th run --no-progress -r rule.yaml --exit-at-end --state "$TMP/st" $GROUP_X \
    -o "$TMP/st1.jsonl" "kafka://$BOOT/events?group=g-st"
expect_status 0 "state: a first run"
for p in 0 1 2; do
    [ -s "st/g-st/events-$p/trailhound.state" ] && ok || bad "state: no snapshot for events/$p"
done
n0=$(awk '{ print $3 }' st/g-st/events-0/kafka.offset)
expect_eq "$(awk '{ print $1, $2 }' st/g-st/events-0/kafka.offset)" "events 0" "state: the offset file"
[ "$n0" -ge 1 ] && ok || bad "state: offset of events/0 is '$n0'"
cp -r st/g-st st/g-st2
run_th run --no-progress -r rule.yaml --exit-at-end --stats --state "$TMP/st" $GROUP_X \
    -o "$TMP/st2.jsonl" "kafka://$BOOT/events?group=g-st2"
expect_status 0 "state ahead of the commit: exit status"
expect_err_has "events/0: the saved state is at offset $n0, past the group's commit (-1)" \
    "state ahead of the commit: reported"
expect_err_has "kafka            0 messages" "state ahead of the commit: nothing read again"
printf 'THSTATE\000garbage' >st/g-st/events-1/trailhound.state
run_th run --no-progress -r rule.yaml --exit-at-end --state "$TMP/st" $GROUP_X \
    "kafka://$BOOT/events?group=g-st"
expect_status 2 "state: a corrupt snapshot"
expect_err_has "events-1/trailhound.state" "state: the corrupt file is named"
run_th run --no-progress -r rule.yaml --exit-at-end --state "$TMP/st" --reset-state $GROUP_X \
    "kafka://$BOOT/events?group=g-st"
expect_status 0 "state: --reset-state recovers"

# 6. Secrets given with -X never show, in errors, logs, --stats or --metrics, even when
# the brokers refuse the connection.
start_engine sec -r rule.yaml --stats --metrics "$TMP/sec.prom" --stats-interval 100ms \
    -X security.protocol=sasl_plaintext -X sasl.mechanism=PLAIN -X sasl.username=alice \
    -X sasl.password=hunter2-sasl -X debug=security,broker "kafka://127.0.0.1:1/events?group=g-sec"
wait_for 30 grep -q 'Connection refused' sec.err || bad "secrets: no connection error reported"
stop_engine sec
expect_eq "$status" 0 "secrets: a graceful stop"
out=$(cat sec.out)
err=$(cat sec.err)
case "$out$err$(cat sec.prom 2>/dev/null)" in
*hunter2-sasl*) bad "secrets: the SASL password was printed: $err" ;;
*) ok ;;
esac
expect_err_has "trailhound: stats:" "secrets: the run stopped gracefully"
finish
