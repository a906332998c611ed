#!/usr/bin/env bash
# Policy enforcement at fleet size (issue 5's benchmark), in one run:
#   1. for each N in $ENFORCE_DEVICES (default "1000 10000"): compile the effective
#      policies of N devices with real-sized MUD files, build the nftables JSON
#      document (examples/enforce_bench.rs), apply it with `nft -j -f` in the lab's
#      router namespace (one transaction) and count what the kernel holds;
#   2. forwarding throughput through the router namespace with iperf3 (device 1 →
#      the lab's "Internet"), with no ruleset and with the largest ruleset loaded.
# Needs root (network namespaces). Prints a Markdown table for docs/benchmarks.md.
#
#   scripts/bench-enforce.sh                      # release build, 1,000 and 10,000 devices
#   ENFORCE_DEVICES="100 1000" IPERF_SECONDS=5 scripts/bench-enforce.sh
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "bench-enforce: needs root (network namespaces)" >&2; exit 2; }
bash scripts/deps.sh

sizes="${ENFORCE_DEVICES:-1000 10000}"
secs="${IPERF_SECONDS:-10}"
profile="${BENCH_PROFILE:-release}"
prefix="benf"
out="$(mktemp -d)"
trap 'bash tools/lab/lab.sh down "$prefix" >/dev/null 2>&1 || true; rm -rf "$out"' EXIT

if [ "$profile" = release ]; then
  cargo build --release --locked -p steward --example enforce_bench
  bin=target/release/examples/enforce_bench
else
  cargo build --locked -p steward --example enforce_bench
  bin=target/debug/examples/enforce_bench
fi

bash tools/lab/lab.sh up "$prefix" 1 >/dev/null
R="$prefix-r"
D="$prefix-d1"

iperf() {
  # Sender-side throughput in Gbit/s of a single TCP stream, device → Internet.
  ip netns exec "$D" iperf3 -c 203.0.113.20 -p 5201 -t "$secs" -J |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'
}

echo "== forwarding with no ruleset (${secs} s)"
base="$(iperf)"
echo "no ruleset: ${base} Gbit/s"

echo
echo "| devices | policy rules | nft rules | set elements | compile (s) | build JSON (s) | JSON bytes | \`nft -j -f\` apply (s) | kernel rules after apply |"
echo "|---|---|---|---|---|---|---|---|---|"
last=""
for n in $sizes; do
  line="$("$bin" "$n" "$out/rules-$n.json")"
  # devices=N policy_rules=R nft_rules=X elements=E compile_s=C build_s=B bytes=Y
  eval "$(echo "$line" | tr ' ' '\n' | sed 's/^/b_/')"
  ip netns exec "$R" nft flush ruleset
  t0="$(date +%s.%N)"
  ip netns exec "$R" nft -j -f "$out/rules-$n.json"
  t1="$(date +%s.%N)"
  apply="$(python3 -c "print('%.2f' % ($t1 - $t0))")"
  held="$(ip netns exec "$R" nft -j list table inet steward | jq '[.nftables[] | select(.rule)] | length')"
  echo "| $n | $b_policy_rules | $b_nft_rules | $b_elements | $b_compile_s | $b_build_s | $b_bytes | $apply | $held |"
  last="$n"
done

echo
echo "== forwarding with the ${last}-device ruleset loaded (${secs} s)"
# The ruleset is fail-closed; device 1 (10.77.0.11) is device 0 of the document,
# allowed to 203.0.113.20:5201. Check that something else is really refused.
if ip netns exec "$D" timeout 2 bash -c 'exec 3<>/dev/tcp/203.0.113.20/80' 2>/dev/null; then
  echo "bench-enforce: port 80 reachable with the ruleset loaded: the ruleset is not in force" >&2
  exit 1
fi
loaded="$(iperf)"
echo "ruleset of $last devices: ${loaded} Gbit/s"
echo
echo "| ruleset | Gbit/s (1 TCP stream, ${secs} s) |"
echo "|---|---|"
echo "| none | $base |"
echo "| $last devices | $loaded |"
python3 -c "print('overhead ratio (loaded / none): %.3f' % ($loaded / $base))"
