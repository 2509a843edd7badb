#!/bin/sh
# demo.sh - streaming from Kafka with no Kafka installed: set up, build, generate the
# bundled sample archive, start librdkafka's mock cluster (the real Kafka protocol over
# loopback TCP, in tests/kafka/kafka_mock.c), produce the sample's events to a topic keyed
# by principal, and run the shipped rules over the topic in a consumer group until its end:
# signals on stdout, the stream's counters on stderr, and then how they compare with the
# same sample replayed from its files.
#
# BUILD (default build) is the build directory.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
sh tests/setup.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
rm -rf "$BUILD/sample" "$BUILD/kafka-demo"
"$BUILD/gen_sample" "$BUILD/sample"
mkdir -p "$BUILD/geoip" "$BUILD/kafka-demo"
perl tests/geoip/gen_mmdb.pl "$BUILD/geoip"
D=$BUILD/kafka-demo
GEO="--geoip $BUILD/geoip/trailhound-City-Test.mmdb --asn $BUILD/geoip/trailhound-ASN-Test.mmdb"

# The archive's events in replay order, one JSON line each (hunt prints them as they are).
"$BUILD/trailhound" hunt --no-progress 'source:cloudtrail' "$BUILD/sample" >"$D/events.ndjson"

# A mock cluster of 3 brokers with a 4-partition topic; it lives as long as its input.
mkfifo "$D/ctl"
"$BUILD/th_kafka_mock" cluster --topic cloudtrail:4 <"$D/ctl" >"$D/cluster.out" &
exec 3>"$D/ctl"
trap 'exec 3>&-' EXIT
i=0
until grep -q '^bootstrap ' "$D/cluster.out"; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "demo: the mock cluster did not start" >&2; exit 1; }
    sleep 0.1
done
BOOT=$(awk '/^bootstrap /{print $2}' "$D/cluster.out")
echo "demo: mock Kafka cluster at $BOOT" >&2

# Keyed by principal: all of a principal's events land in one partition, in order, so the
# stateful rules see each principal whole (README, "Streaming from Kafka").
"$BUILD/th_kafka_mock" produce "$BOOT" cloudtrail "$D/events.ndjson" --key userIdentity.arn >&2

# shellcheck disable=SC2086 # GEO is several words on purpose
"$BUILD/trailhound" run --no-progress --stats --exit-at-end -r rules $GEO \
    --state "$D/state" --metrics "$D/metrics.prom" \
    -X session.timeout.ms=6000 -X heartbeat.interval.ms=500 \
    "kafka://$BOOT/cloudtrail?group=demo" | tee "$D/signals.jsonl"

# shellcheck disable=SC2086
"$BUILD/trailhound" run --no-progress -r rules $GEO "$BUILD/sample" >"$D/replay.jsonl"
k=$(wc -l <"$D/signals.jsonl")
r=$(wc -l <"$D/replay.jsonl")
echo "demo: $k signals from the Kafka topic, $r from replaying the archive's files" >&2
if [ "$(sort "$D/signals.jsonl")" = "$(sort "$D/replay.jsonl")" ]; then
    echo "demo: the same signals, byte for byte (in another order: partitions interleave)" >&2
fi
sed -n 's/.*"rule":{"id":"\([^"]*\)".*/\1/p' "$D/signals.jsonl" | sort | uniq -c >&2
