#!/usr/bin/env bash
# CoAP over DTLS-PSK benchmark: acknowledged POSTs (2.04 after the durable commit)
# from many clients, all on 127.0.0.1. Starts a release `steward serve` on a fresh
# data directory with the per-address session cap and the rate limit raised (every
# client comes from 127.0.0.1), runs `loadgen coap` for each client count, stops it.
#
# Settings: COAP_CLIENTS (list), COAP_RECORDS (SenML records per POST),
# COAP_WARMUP, COAP_DURATION (seconds), BENCH_BUILD=0 to skip the build,
# BENCH_PROFILE=debug to use the debug binaries (figures then are not comparable).
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${COAP_CLIENTS:-"50 200"}
RECORDS=${COAP_RECORDS:-10}
WARMUP=${COAP_WARMUP:-3}
DURATION=${COAP_DURATION:-15}
PROFILE=${BENCH_PROFILE:-release}
BIN=${CARGO_TARGET_DIR:-target}/$PROFILE

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  if [ "$PROFILE" = release ]; then flag=--release; else flag=; fi
  cargo build $flag -p steward -p loadgen --bin steward --bin loadgen
fi

work=$(mktemp -d /tmp/steward-coap-bench.XXXXXX)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/bench.toml" <<TOML
[coap]
max_sessions_per_address = 100000
rate_limit_per_sec = 1000000
rate_burst = 1000000
TOML

"$BIN/steward" serve --data "$work/gw" --config "$work/bench.toml" \
  --http 127.0.0.1:0 --mqtts 127.0.0.1:0 --coaps 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.log" &
server=$!
for _ in $(seq 1 100); do
  grep -q "CoAP/DTLS on" "$work/serve.out" 2>/dev/null && break
  sleep 0.2
done
coaps=$(grep -o 'CoAP/DTLS on [0-9.:]*' "$work/serve.out" | awk '{print $3}')
[ -n "$coaps" ] || { echo "steward did not start; see $work/serve.log" >&2; exit 1; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $CLIENTS; do
  "$BIN/loadgen" coap --server "$coaps" --data "$work/gw" -n "$n" \
    --records "$RECORDS" --warmup "$WARMUP" --duration "$DURATION"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
