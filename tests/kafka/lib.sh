# lib.sh - the Kafka tests' harness, over tests/cli/lib.sh: a mock cluster per script
# (th_kafka_mock, built beside the trailhound binary), engines run in the background,
# and bounded waits. Every wait polls a condition with a deadline (no bare sleeps), and
# everything started is stopped when the script exits.
. "$TH_SRC/tests/cli/lib.sh"
KAFKA_MOCK=${KAFKA_MOCK:-$(dirname "$TRAILHOUND")/th_kafka_mock}
[ -x "$KAFKA_MOCK" ] || { echo "no $KAFKA_MOCK: build the th_kafka_mock target" >&2; exit 1; }
# The mock's group coordinator waits up to session.timeout.ms - 1 s for members to rejoin
# after a member joins: a short session makes rebalances take about 3 s instead of 44.
GROUP_X="-X session.timeout.ms=4000 -X heartbeat.interval.ms=300"
ENGINES=""
CLUSTER_PID=""

cleanup() {
    for p in $ENGINES; do kill -9 "$p" 2>/dev/null; done
    exec 3>&- 2>/dev/null
    [ -n "$CLUSTER_PID" ] && kill "$CLUSTER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; 1 on timeout.
wait_for() {
    _deadline=$(($(date +%s) + $1))
    shift
    while ! "$@" 2>/dev/null; do
        [ "$(date +%s)" -ge "$_deadline" ] && return 1
        sleep 0.1
    done
    return 0
}

# start_cluster [--brokers N] [--topic NAME:PARTITIONS]...: sets BOOT.
start_cluster() {
    mkfifo "$TMP/ctl"
    "$KAFKA_MOCK" cluster "$@" <"$TMP/ctl" >"$TMP/cluster.out" 2>"$TMP/cluster.err" &
    CLUSTER_PID=$!
    exec 3>"$TMP/ctl"
    wait_for 20 grep -q '^bootstrap ' "$TMP/cluster.out" || {
        echo "the mock cluster did not start: $(cat "$TMP/cluster.err")" >&2
        exit 1
    }
    BOOT=$(awk '/^bootstrap /{print $2}' "$TMP/cluster.out")
    CLUSTER_ACKS=0
}

_acks() { [ "$(grep -c -e '^ok' -e '^error' "$TMP/cluster.out")" -gt "$CLUSTER_ACKS" ]; }

# cluster CMD...: one command to the cluster (down ID, up ID, leader T P ID), answered.
cluster() {
    echo "$*" >&3
    wait_for 10 _acks || { bad "cluster did not answer '$*'"; return 1; }
    CLUSTER_ACKS=$((CLUSTER_ACKS + 1))
    tail -n 1 "$TMP/cluster.out" | grep -q '^ok' || { bad "cluster: $*: $(tail -n 1 "$TMP/cluster.out")"; return 1; }
}

# produce TOPIC FILE [ARGS...]: sends each line of FILE as a message; waits for delivery.
produce() {
    _t=$1
    shift
    "$KAFKA_MOCK" produce "$BOOT" "$_t" "$@" >/dev/null 2>"$TMP/produce.err" || {
        bad "produce to $_t failed: $(cat "$TMP/produce.err")"
        return 1
    }
}

# consume TOPIC COUNT [SECONDS]: prints KEY<TAB>VALUE lines; 1 when fewer than COUNT came.
consume() {
    "$KAFKA_MOCK" consume "$BOOT" "$1" --count "$2" --timeout "${3:-20}" 2>>"$TMP/consume.err"
}

# start_engine NAME ARGS...: trailhound run ARGS in the background; out/err in $TMP/NAME.*.
start_engine() {
    _n=$1
    shift
    "$TRAILHOUND" run --no-progress "$@" >"$TMP/$_n.out" 2>"$TMP/$_n.err" &
    eval "PID_$_n=$!"
    ENGINES="$ENGINES $!"
}

# stop_engine NAME [SIGNAL]: signals it (TERM by default) and waits; sets status. A run
# that does not stop within 60 s is killed and counts as a failure.
stop_engine() {
    eval "_p=\$PID_$1"
    kill "-${2:-TERM}" "$_p" 2>/dev/null
    _i=0
    while kill -0 "$_p" 2>/dev/null && [ "$_i" -lt 600 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    if kill -0 "$_p" 2>/dev/null; then
        kill -9 "$_p"
        bad "$1 did not stop within 60 s"
    fi
    status=0
    wait "$_p" || status=$?
}

# wait_engine NAME SECONDS: waits for it to exit by itself (--exit-at-end); sets status.
wait_engine() {
    eval "_p=\$PID_$1"
    _deadline=$(($(date +%s) + $2))
    while kill -0 "$_p" 2>/dev/null && [ "$(date +%s)" -lt "$_deadline" ]; do sleep 0.1; done
    if kill -0 "$_p" 2>/dev/null; then
        bad "$1 did not finish within $2 s: $(tail -n 5 "$TMP/$1.err")"
        kill -9 "$_p"
    fi
    status=0
    wait "$_p" || status=$?
}

# metric FILE NAME[{labels}]: the value of one sample in a Prometheus text file, or -1.
metric() {
    awk -v m="$2" '$1 == m { v = $2 } END { print (v == "" ? -1 : v) }' "$1" 2>/dev/null ||
        echo -1
}

# metric_sum FILE NAME: the sum of a metric over all its label sets.
metric_sum() {
    awk -v m="$2" 'index($1, m "{") == 1 || $1 == m { s += $2 } END { print s + 0 }' "$1" \
        2>/dev/null || echo 0
}

# metric_ge FILE NAME VALUE: true when the metric is at least VALUE.
metric_ge() { [ "$(metric "$1" "$2")" -ge "$3" ] 2>/dev/null; }

# ids FILE: the sorted distinct signal ids of a file of signal lines (or KEY<TAB>VALUE).
ids() { sed -n 's/.*{"type":"signal","id":"\([0-9a-f]*\)".*/\1/p' "$1" | sort -u; }

# lines_ge FILE N: FILE has at least N lines.
lines_ge() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
