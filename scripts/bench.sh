#!/usr/bin/env bash
# Steward vs Mosquitto on this machine, with the same workload (tools/loadgen):
#   (1) idle: 10,000 concurrent TLS device connections (client certificates) held
#       open; the server's resident memory (VmRSS) before and with them;
#   (2) durable ingest: acknowledged readings/s at QoS 1, TLS, 1,000 devices, each
#       with a window of in-flight publishes (closed loop, as fast as acknowledged);
#   (3) latency: publish → PUBACK p50/p99/p999 at half of Steward's maximum rate
#       from (2), the same offered load for both brokers.
# Prints a side-by-side table. Results and logs stay in $BENCH_OUT (default: a new
# directory under /tmp). Everything runs on loopback; everything started is stopped.
#
# Settings (environment): BENCH_DEVICES (1000), BENCH_IDLE (10000), BENCH_RECORDS
# (SenML records per message, 10), BENCH_WINDOW (in-flight publishes per device, 8),
# BENCH_DURATION (measured seconds, 20), BENCH_WARMUP (5), BENCH_SYNC (Steward's
# [store] synchronous, "full"), BENCH_CACHE (provisioned devices, reused between runs),
# CARGO_TARGET_DIR, BENCH_JOBS (cargo -j), BENCH_BUILD (0: skip the release build).
#
# Mosquitto does not store messages durably: persistence is off by default, and even
# when on it only saves to disk every autosave_interval, never before a PUBACK.
# Steward PUBACKs only after the SQLite commit (synchronous=full: WAL fsync).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DEVICES=${BENCH_DEVICES:-1000}
IDLE=${BENCH_IDLE:-10000}
RECORDS=${BENCH_RECORDS:-10}
WINDOW=${BENCH_WINDOW:-8}
DURATION=${BENCH_DURATION:-20}
WARMUP=${BENCH_WARMUP:-5}
SYNC=${BENCH_SYNC:-full}
CACHE=${BENCH_CACHE:-$CARGO_TARGET_DIR/bench-cache}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/steward-bench.XXXXXX)}
MAX_DEVICES=$(( IDLE > DEVICES ? IDLE : DEVICES ))
# Spread many client connections over several loopback source addresses.
SOURCES=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v mosquitto >/dev/null || die "mosquitto is not installed (apt-get install mosquitto)"
mkdir -p "$OUT" "$CACHE"

# 10,000 connections need as many descriptors in the servers and in the client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $(( MAX_DEVICES + 1000 )) ] \
    || die "ulimit -n is $(ulimit -n); $MAX_DEVICES connections need more (raise the hard limit)"

if [ "${BENCH_BUILD:-1}" = 1 ]; then
    log "building (release)"
    cargo build --release ${BENCH_JOBS:+-j "$BENCH_JOBS"} -p steward -p loadgen >&2
else
    log "BENCH_BUILD=0: using the binaries already in $CARGO_TARGET_DIR/release"
fi
STEWARD=$CARGO_TARGET_DIR/release/steward
LOADGEN=$CARGO_TARGET_DIR/release/loadgen

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$OUT/steward-data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    local p
    for _ in $(seq 100); do
        p=$(( 20000 + RANDOM % 20000 ))
        if ! ss -ltnH "sport = :$p" 2>/dev/null | grep -q .; then echo "$p"; return; fi
    done
    die "no free port"
}

# start_steward DATA_DIR CONFIG LOG: sets STEWARD_PID, HTTP_ADDR, MQTT_ADDR.
start_steward() {
    "$STEWARD" serve --data "$1" --config "$2" --http 127.0.0.1:0 --mqtts 127.0.0.1:0 --coaps 127.0.0.1:0 >"$3" 2>"$3.err" &
    STEWARD_PID=$!
    PIDS+=("$STEWARD_PID")
    local line=""
    for _ in $(seq 300); do
        line=$(grep -m1 -o 'HTTP API on http://[^ ]*  *MQTT/TLS on [^ ]*' "$3" || true)
        [ -n "$line" ] && break
        kill -0 "$STEWARD_PID" 2>/dev/null || die "steward exited: $(tail -5 "$3.err")"
        sleep 0.1
    done
    [ -n "$line" ] || die "steward did not print its addresses"
    HTTP_ADDR=$(sed -E 's/.*HTTP API on http:\/\/([^ ]*).*/\1/' <<<"$line")
    MQTT_ADDR=$(sed -E 's/.*MQTT\/TLS on ([^ ]*).*/\1/' <<<"$line")
}

stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

cat >"$OUT/steward.toml" <<EOF
# Benchmark settings: no per-connection rate limit in the way; durable commits.
[mqtt]
rate_limit_per_sec = 1000000
rate_burst = 1000000
max_inflight = 64
max_connections = $(( MAX_DEVICES + 1000 ))
connect_timeout_secs = 60

[store]
synchronous = "$SYNC"
EOF

# --- provisioning (once; cached) ----------------------------------------------------
TEMPLATE=$CACHE/steward-data
HAVE=0
[ -f "$CACHE/devices/devices.tsv" ] && HAVE=$(wc -l <"$CACHE/devices/devices.tsv")
if [ ! -f "$TEMPLATE/admin-token" ] || [ "$HAVE" -lt "$MAX_DEVICES" ]; then
    log "provisioning $MAX_DEVICES devices into $CACHE (once; later runs reuse them)"
    start_steward "$TEMPLATE" "$OUT/steward.toml" "$OUT/provision.log"
    timeout 600 "$LOADGEN" provision --api "http://$HTTP_ADDR" --token-file "$TEMPLATE/admin-token" \
        -n "$MAX_DEVICES" --out "$CACHE/devices" --concurrency 8 >&2
    stop_pid "$STEWARD_PID"
fi

# --- servers --------------------------------------------------------------------------
# Steward: a fresh copy of the provisioned data directory (registry, CA, no readings).
rm -rf "$OUT/steward-data"
cp -a "$TEMPLATE" "$OUT/steward-data"
start_steward "$OUT/steward-data" "$OUT/steward.toml" "$OUT/steward.log"
log "steward pid $STEWARD_PID: mqtts $MQTT_ADDR, http $HTTP_ADDR"

# Mosquitto: TLS listener with required client certificates from Steward's CA, and
# Steward's server certificate, so both brokers do the same TLS work.
MOSQ_PORT=$(free_port)
cat >"$OUT/mosquitto.conf" <<EOF
user root
per_listener_settings false
allow_anonymous false
persistence false
max_connections -1
set_tcp_nodelay true
log_dest file $OUT/mosquitto.log
log_type error
log_type warning
listener $MOSQ_PORT 127.0.0.1
cafile $CACHE/devices/ca.crt
certfile $OUT/steward-data/server.crt
keyfile $OUT/steward-data/server.key
require_certificate true
use_identity_as_username true
EOF
mosquitto -c "$OUT/mosquitto.conf" >"$OUT/mosquitto.out" 2>&1 &
MOSQ_PID=$!
PIDS+=("$MOSQ_PID")
for _ in $(seq 50); do ss -ltnH "sport = :$MOSQ_PORT" | grep -q . && break; sleep 0.1; done
kill -0 "$MOSQ_PID" 2>/dev/null || die "mosquitto did not start: $(cat "$OUT/mosquitto.out")"
log "mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') pid $MOSQ_PID: mqtts 127.0.0.1:$MOSQ_PORT"

# loadgen NAME SERVER ADDR PID [args…]: one run, summary in $OUT/NAME.env.
loadgen() {
    local name=$1 label=$2 addr=$3 pid=$4
    shift 4
    local extra=()
    [ "$label" = steward ] && extra=(--metrics-url "http://$HTTP_ADDR/metrics")
    log "$name: $label"
    timeout 300 "$LOADGEN" run --label "$label" --broker "$addr" --server-name localhost \
        --devices "$CACHE/devices" --server-pid "$pid" --source-ip "$SOURCES" \
        --summary "$OUT/$name.env" "${extra[@]}" "$@" | tee "$OUT/$name.txt" >&2
}
val() { sed -n "s/^$2='\(.*\)'$/\1/p" "$OUT/$1.env" 2>/dev/null; }

# (1) idle connections, on fresh servers.
for b in steward mosquitto; do
    if [ $b = steward ]; then addr=$MQTT_ADDR pid=$STEWARD_PID; else addr=127.0.0.1:$MOSQ_PORT pid=$MOSQ_PID; fi
    loadgen "idle-$b" $b "$addr" "$pid" --idle -n "$IDLE" --warmup 5 --duration 2 --connect-concurrency 64
    sleep 2
done

# (2) maximum durable ingest, QoS 1.
for b in steward mosquitto; do
    if [ $b = steward ]; then addr=$MQTT_ADDR pid=$STEWARD_PID; else addr=127.0.0.1:$MOSQ_PORT pid=$MOSQ_PID; fi
    loadgen "max-$b" $b "$addr" "$pid" -n "$DEVICES" --qos 1 --records "$RECORDS" --window "$WINDOW" \
        --rate 0 --warmup "$WARMUP" --duration "$DURATION"
done

# (3) latency at half of Steward's maximum message rate, same offered load for both.
HALF=$(awk -v m="$(val max-steward ACKED_MSGS_PER_S)" 'BEGIN { r = m / 2; if (r < 1) r = 1; printf "%.0f", r }')
for b in steward mosquitto; do
    if [ $b = steward ]; then addr=$MQTT_ADDR pid=$STEWARD_PID; else addr=127.0.0.1:$MOSQ_PORT pid=$MOSQ_PID; fi
    loadgen "half-$b" $b "$addr" "$pid" -n "$DEVICES" --qos 1 --records "$RECORDS" --window "$WINDOW" \
        --rate "$HALF" --warmup "$WARMUP" --duration "$DURATION"
done

# --- table ------------------------------------------------------------------------------
row() { # label, steward value, mosquitto value
    awk -v l="$1" -v s="$2" -v m="$3" 'BEGIN {
        r = (s + 0 > 0 && m + 0 > 0) ? sprintf("%.2f", s / m) : "-";
        printf "| %-52s | %12s | %12s | %7s |\n", l, s, m, r }'
}
{
    echo
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "Workload: $DEVICES devices, QoS 1, TLS client certificates, $RECORDS SenML records/message, window $WINDOW, ${WARMUP}s warm-up + ${DURATION}s measured; idle: $IDLE connections; Steward synchronous=$SYNC"
    echo
    printf "| %-52s | %12s | %12s | %7s |\n" "figure" "Steward" "Mosquitto" "ratio"
    echo "|------------------------------------------------------|--------------|--------------|---------|"
    row "idle: connections held" "$(val idle-steward CONNECTED)" "$(val idle-mosquitto CONNECTED)"
    row "idle: server RSS before (MB)" "$(val idle-steward SERVER_RSS_BEFORE_MB)" "$(val idle-mosquitto SERVER_RSS_BEFORE_MB)"
    row "idle: server RSS with $IDLE connections (MB)" "$(val idle-steward SERVER_RSS_MB)" "$(val idle-mosquitto SERVER_RSS_MB)"
    row "idle: KiB per connection" "$(val idle-steward SERVER_KB_PER_CONN)" "$(val idle-mosquitto SERVER_KB_PER_CONN)"
    row "idle: seconds to connect all" "$(val idle-steward CONNECT_SECS)" "$(val idle-mosquitto CONNECT_SECS)"
    row "max: acknowledged readings/s (QoS 1)" "$(val max-steward ACKED_READINGS_PER_S)" "$(val max-mosquitto ACKED_READINGS_PER_S)"
    row "max: acknowledged messages/s" "$(val max-steward ACKED_MSGS_PER_S)" "$(val max-mosquitto ACKED_MSGS_PER_S)"
    row "max: latency p50 (ms)" "$(val max-steward P50_MS)" "$(val max-mosquitto P50_MS)"
    row "max: latency p99 (ms)" "$(val max-steward P99_MS)" "$(val max-mosquitto P99_MS)"
    row "max: server CPU (cores)" "$(val max-steward SERVER_CPU_CORES)" "$(val max-mosquitto SERVER_CPU_CORES)"
    row "max: loadgen CPU (cores)" "$(val max-steward LOADGEN_CPU_CORES)" "$(val max-mosquitto LOADGEN_CPU_CORES)"
    row "max: server disk writes (MB/s)" "$(val max-steward SERVER_DISK_WRITE_MB_PER_S)" "$(val max-mosquitto SERVER_DISK_WRITE_MB_PER_S)"
    row "max: server disk bytes written per reading" "$(val max-steward SERVER_DISK_BYTES_PER_READING)" "$(val max-mosquitto SERVER_DISK_BYTES_PER_READING)"
    row "max: server RSS under load (MB)" "$(val max-steward SERVER_RSS_MB)" "$(val max-mosquitto SERVER_RSS_MB)"
    row "half ($HALF msg/s): acknowledged readings/s" "$(val half-steward ACKED_READINGS_PER_S)" "$(val half-mosquitto ACKED_READINGS_PER_S)"
    row "half: latency p50 (ms)" "$(val half-steward P50_MS)" "$(val half-mosquitto P50_MS)"
    row "half: latency p99 (ms)" "$(val half-steward P99_MS)" "$(val half-mosquitto P99_MS)"
    row "half: latency p999 (ms)" "$(val half-steward P999_MS)" "$(val half-mosquitto P999_MS)"
    row "half: server CPU (cores)" "$(val half-steward SERVER_CPU_CORES)" "$(val half-mosquitto SERVER_CPU_CORES)"
    echo
    echo "Steward commits at max: $(val max-steward COMMITS_PER_S)/s, $(val max-steward COMMIT_AVG_READINGS) readings and $(val max-steward COMMIT_AVG_MS) ms each (commit thread busy $(val max-steward COMMIT_BUSY_SHARE) of the time)"
    echo "Steward commits at half: $(val half-steward COMMITS_PER_S)/s, $(val half-steward COMMIT_AVG_READINGS) readings and $(val half-steward COMMIT_AVG_MS) ms each"
    echo "Errors: $(for f in "$OUT"/*.env; do printf '%s: %s; ' "$(basename "$f" .env)" "$(sed -n "s/^ERRORS='\(.*\)'$/\1/p" "$f")"; done)"
    echo "Goals (issue 2): ≥ 50,000 acknowledged readings/s at QoS 1; ≤ 300 MB for 10,000 idle TLS connections."
    echo "Details: $OUT"
} | tee "$OUT/table.md"
