#!/bin/sh
# bench.sh - streaming figures through librdkafka's mock cluster (README, "Streaming from
# Kafka"), with a Release build and the shipped rule pack:
#
#   throughput  the bundled sample's events, REPEAT times over (100,000 by default), are
#               produced to a 64-partition topic first, keyed by event id to spread them
#               (the mock broker keeps only about 5 MB per partition, and the sample has few
#               principals);
#               then one `trailhound run --exit-at-end` consumes them all. The figure is
#               the engine's own: events from its first message to its last, per second
#               of wall time.
#   latency     `trailhound run` waits on an empty topic; RATE events per second (each a
#               signal: a TruffleHog call of a new principal) are produced for SECONDS; the
#               figure is produce-to-signal: from the message's timestamp (set by the
#               producer) to the signal line written to a file, and to the signal delivered
#               to a Kafka topic (a second run), p50 and p99. The mock broker answers a
#               fetch that found nothing only when fetch.wait.max.ms (default 500 ms)
#               has passed, even if messages came meanwhile (a real broker answers as
#               soon as they come), so the runs set fetch.wait.max.ms to FETCH_WAIT ms.
#               (The same holds back the throughput run, which waits on the mock's fetches:
#               its CPU time, printed beside, is the engine's own cost.)
#
# BUILD (default build), REPEAT (25), RATE (1000), SECONDS (10), FETCH_WAIT (10).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
REPEAT=${REPEAT:-25}
FETCH_WAIT=${FETCH_WAIT:-10}
RATE=${RATE:-1000}
SECONDS_=${SECONDS:-10}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
D=$BUILD/kafka-bench
rm -rf "$D"
mkdir -p "$D" "$BUILD/geoip"
[ -d "$BUILD/sample" ] || "$BUILD/gen_sample" "$BUILD/sample" >/dev/null
perl tests/geoip/gen_mmdb.pl "$BUILD/geoip"
GEO="--geoip $BUILD/geoip/trailhound-City-Test.mmdb --asn $BUILD/geoip/trailhound-ASN-Test.mmdb"
X="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500 -X fetch.wait.max.ms=$FETCH_WAIT"
"$BUILD/trailhound" hunt --no-progress 'source:cloudtrail' "$BUILD/sample" >"$D/events.ndjson"

mkfifo "$D/ctl"
"$BUILD/th_kafka_mock" cluster --topic bench:64 --topic live:4 --topic live2:4 --topic signals:4 \
    <"$D/ctl" >"$D/cluster.out" &
exec 3>"$D/ctl"
trap 'exec 3>&-' EXIT
i=0
until grep -q '^bootstrap ' "$D/cluster.out"; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "bench: the mock cluster did not start" >&2; exit 1; }
    sleep 0.1
done
BOOT=$(awk '/^bootstrap /{print $2}' "$D/cluster.out")

echo "== throughput: $(($(wc -l <"$D/events.ndjson") * REPEAT)) events, shipped rules"
"$BUILD/th_kafka_mock" produce "$BOOT" bench "$D/events.ndjson" --key eventID \
    --repeat "$REPEAT"
# shellcheck disable=SC2086 # GEO and X are several words on purpose
"$BUILD/trailhound" run --no-progress --stats --exit-at-end -r rules $GEO $X \
    -o "$D/bench.jsonl" "kafka://$BOOT/bench?group=bench" 2>"$D/bench.err"
grep -e '^  kafka ' -e '^  events ' -e '^  throughput ' -e '^  cpu ' "$D/bench.err"

n=$((RATE * SECONDS_))
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/b%07d\"},\"eventTime\":\"2024-03-04T10:%02d:%02dZ\",\"eventSource\":\"sts.amazonaws.com\",\"eventName\":\"GetCallerIdentity\",\"userAgent\":\"TruffleHog\",\"sourceIPAddress\":\"203.0.113.9\",\"eventID\":\"l%07d\"}\n", i, (i / 60) % 60, i % 60, i }' \
    >"$D/live.ndjson"
for out in file kafka; do
    if [ "$out" = file ]; then dest="$D/live.jsonl" topic=live; else dest="kafka://$BOOT/signals" topic=live2; fi
    echo "== latency, signals to a $out: $n events at $RATE/s, one signal each"
    # shellcheck disable=SC2086
    "$BUILD/trailhound" run --no-progress --stats --stats-interval 100ms -r rules $GEO $X \
        --metrics "$D/$topic.prom" -o "$dest" "kafka://$BOOT/$topic?group=bench-$topic" \
        2>"$D/$topic.err" &
    pid=$!
    i=0
    until grep -q '^trailhound_kafka_partitions_assigned 4' "$D/$topic.prom" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -lt 300 ] || { echo "bench: no assignment" >&2; kill "$pid"; exit 1; }
        sleep 0.1
    done
    # One event first, to wait until the engine is fetching (and its output connected).
    head -n 1 "$D/live.ndjson" | sed 's/user\/b/user\/warmup/' >"$D/warmup.ndjson"
    "$BUILD/th_kafka_mock" produce "$BOOT" "$topic" "$D/warmup.ndjson" >/dev/null
    signals() { awk '$1 ~ /^trailhound_signal_latency_seconds_count/ { print $2 }' "$D/$topic.prom"; }
    i=0
    until [ "$(signals)" = 1 ]; do
        i=$((i + 1))
        [ "$i" -lt 300 ] || { echo "bench: the warm-up event gave no signal" >&2; break; }
        sleep 0.1
    done
    "$BUILD/th_kafka_mock" produce "$BOOT" "$topic" "$D/live.ndjson" --key userIdentity.arn \
        --rate "$RATE"
    i=0
    until [ "$(signals)" = $((n + 1)) ]; do
        i=$((i + 1))
        [ "$i" -lt 600 ] || { echo "bench: not every signal came" >&2; break; }
        sleep 0.1
    done
    kill -TERM "$pid"
    wait "$pid"
    grep -e '^  latency ' "$D/$topic.err"
done
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
