#!/usr/bin/env bash
# Steward's network lab: network namespaces and veth pairs on this one machine.
#
#   lab.sh up PREFIX [DEVICES]     build the lab (idempotent: tears down PREFIX first)
#   lab.sh down PREFIX             tear it down (kills only the processes it started)
#   lab.sh set-host PREFIX NAME ADDR   change (or add) NAME's address in the lab DNS
#   lab.sh add-hosts PREFIX NAME ADDR... give NAME more addresses in the lab DNS
#   lab.sh env PREFIX              print the lab's facts (also in /tmp/steward-lab-PREFIX/env)
#
# PREFIX (letters and digits, at most 8) names every namespace, so several labs
# can run at once; each lab has its own copy of the addresses below.
#
#   PREFIX-dN  device hosts: eth0 10.77.0.(10+N)/24, MAC 02:77:00:00:00:NN, gw 10.77.0.1
#   (devices resolve through 10.77.0.1, Steward's DNS; the router through the lab DNS)
#   PREFIX-r   Steward's router: br-lan 10.77.0.1/24 (LAN; bridge ports isolated, with
#              proxy ARP, so device-to-device traffic is routed through the forward hook
#              like a private VLAN), up0 192.0.2.1/24 (uplink), forwarding on, no NAT
#   PREFIX-i   the "Internet": up0 192.0.2.2/24, and on lo:
#              203.0.113.53  DNS (dnsmasq, authoritative for example.test, TTL $LAB_TTL s)
#              203.0.113.5   mud.example.test   HTTPS :443 over $LABDIR/www (MUD files)
#              203.0.113.10  api.example.test   HTTPS :443, HTTP :80
#              203.0.113.20  other.example.test HTTP :80, TCP echo :7, UDP echo :123, iperf3 :5201
#              203.0.113.30  moving.example.test (set-host moves it, e.g. to 203.0.113.31,
#                            which also answers HTTPS :443)
#
# The TLS server certificate (all names above) is signed by $LABDIR/ca.crt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
prefix="${2:-}"

die() { echo "lab: $*" >&2; exit 1; }
[ -n "$cmd" ] || die "usage: lab.sh up|down|set-host|env PREFIX ..."
[[ "$prefix" =~ ^[a-zA-Z][a-zA-Z0-9]{0,7}$ ]] || die "PREFIX must be 1-8 letters/digits, starting with a letter (got '$prefix')"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, veth pairs)"
for t in ip dnsmasq python3 openssl; do
  command -v "$t" >/dev/null || die "'$t' is missing: run scripts/deps.sh"
done

labdir="/tmp/steward-lab-$prefix"
R="$prefix-r"
I="$prefix-i"
ttl="${LAB_TTL:-5}"

in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

down() {
  if [ -d "$labdir" ]; then
    for f in "$labdir"/*.pid; do
      [ -f "$f" ] || continue
      pid="$(cat "$f")"
      [[ "$pid" =~ ^[0-9]+$ ]] && kill "$pid" 2>/dev/null || true
    done
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-(r|i|d[0-9]+)$" || true); do
    # Whatever still runs inside the lab's namespaces was started for the lab.
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do
      kill "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$labdir"
  rm -rf "/etc/netns/$R"
  for d in /etc/netns/"$prefix"-d*; do
    [ -d "$d" ] && rm -rf "$d"
  done
  return 0
}

write_hosts() {
  cat >"$labdir/hosts" <<EOF
203.0.113.5 mud.example.test
203.0.113.10 api.example.test
203.0.113.20 other.example.test
203.0.113.30 moving.example.test
EOF
}

certs() {
  local d="$labdir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=Steward lab CA" -keyout "$d/ca.key" -out "$d/ca.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=lab.example.test" -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1
  printf '%s\n' "subjectAltName=DNS:mud.example.test,DNS:api.example.test,DNS:other.example.test,DNS:moving.example.test,IP:203.0.113.5,IP:203.0.113.10,IP:203.0.113.20,IP:203.0.113.30,IP:203.0.113.31" \
    "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.crt" >/dev/null 2>&1
}

up() {
  local n="${1:-3}"
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 40 ] || die "DEVICES must be 1..40"
  down
  mkdir -p "$labdir/www"
  chmod 755 "$labdir"

  ip netns add "$R"
  ip netns add "$I"
  # `ip netns exec` mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf: the
  # router (Steward: MUD fetches) resolves through the lab DNS, devices through
  # Steward's DNS forwarder on the LAN.
  mkdir -p "/etc/netns/$R"
  echo "nameserver 203.0.113.53" >"/etc/netns/$R/resolv.conf"
  in_ns "$R" ip link set lo up
  in_ns "$I" ip link set lo up

  # Router: LAN bridge with isolated ports + proxy ARP (private VLAN): every frame
  # between two devices goes up to the router's IP layer, so nftables sees it.
  in_ns "$R" ip link add br-lan type bridge
  in_ns "$R" ip addr add 10.77.0.1/24 dev br-lan
  in_ns "$R" ip link set br-lan up
  in_ns "$R" sysctl -qw net.ipv4.ip_forward=1
  in_ns "$R" sysctl -qw net.ipv4.conf.all.send_redirects=0
  in_ns "$R" sysctl -qw net.ipv4.conf.br-lan.send_redirects=0
  in_ns "$R" sysctl -qw net.ipv4.conf.br-lan.proxy_arp=1
  in_ns "$R" sysctl -qw net.ipv4.conf.br-lan.proxy_arp_pvlan=1
  # Answer proxied ARP at once: the kernel's default holds each answer back up to
  # 0.8 s (proxy_delay), which makes a device's first packet to a peer miss a
  # one-second probe.
  in_ns "$R" sysctl -qw net.ipv4.neigh.br-lan.proxy_delay=0

  # Uplink to the Internet namespace (routed, no NAT).
  ip link add "${prefix}ua" type veth peer name "${prefix}ub"
  ip link set "${prefix}ua" netns "$R"
  ip link set "${prefix}ub" netns "$I"
  in_ns "$R" ip link set "${prefix}ua" name up0
  in_ns "$I" ip link set "${prefix}ub" name up0
  in_ns "$R" ip addr add 192.0.2.1/24 dev up0
  in_ns "$I" ip addr add 192.0.2.2/24 dev up0
  in_ns "$R" ip link set up0 up
  in_ns "$I" ip link set up0 up
  in_ns "$R" ip route add default via 192.0.2.2
  in_ns "$I" ip route add 10.77.0.0/24 via 192.0.2.1
  for a in 203.0.113.53 203.0.113.5 203.0.113.10 203.0.113.20 203.0.113.30 203.0.113.31; do
    in_ns "$I" ip addr add "$a/32" dev lo
  done

  local env="$labdir/env"
  {
    echo "LAB_PREFIX=$prefix"
    echo "LAB_DIR=$labdir"
    echo "LAB_ROUTER=$R"
    echo "LAB_INTERNET=$I"
    echo "LAB_LAN_IF=br-lan"
    echo "LAB_UPLINK_IF=up0"
    echo "LAB_GATEWAY=10.77.0.1"
    echo "LAB_DNS=203.0.113.53"
    echo "LAB_CA=$labdir/ca.crt"
    echo "LAB_WWW=$labdir/www"
    echo "LAB_DEVICES=$n"
  } >"$env"

  for i in $(seq 1 "$n"); do
    local d="$prefix-d$i" addr="10.77.0.$((10 + i))" mac
    mac="$(printf '02:77:00:00:00:%02x' "$i")"
    ip netns add "$d"
    mkdir -p "/etc/netns/$d"
    echo "nameserver 10.77.0.1" >"/etc/netns/$d/resolv.conf"
    in_ns "$d" ip link set lo up
    ip link add "${prefix}${i}a" type veth peer name "${prefix}${i}b"
    ip link set "${prefix}${i}a" netns "$R"
    ip link set "${prefix}${i}b" netns "$d"
    in_ns "$R" ip link set "${prefix}${i}a" name "lan$i"
    in_ns "$R" ip link set "lan$i" master br-lan
    in_ns "$R" ip link set "lan$i" type bridge_slave isolated on
    in_ns "$R" ip link set "lan$i" up
    in_ns "$d" ip link set "${prefix}${i}b" name eth0
    in_ns "$d" ip link set eth0 address "$mac"
    in_ns "$d" ip addr add "$addr/24" dev eth0
    in_ns "$d" ip link set eth0 up
    in_ns "$d" ip route add default via 10.77.0.1
    echo "LAB_DEV${i}=$d" >>"$env"
    echo "LAB_DEV${i}_ADDR=$addr" >>"$env"
    echo "LAB_DEV${i}_MAC=$mac" >>"$env"
  done

  certs
  write_hosts
  echo "lab $prefix" >"$labdir/www/index.html"

  ip netns exec "$I" dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-dhcp-interface=up0 \
    --bind-interfaces --listen-address=203.0.113.53 --except-interface=up0 \
    --addn-hosts="$labdir/hosts" --local=/example.test/ --local-ttl="$ttl" \
    --pid-file= --user=root --log-facility="$labdir/dnsmasq.log" \
    >"$labdir/dnsmasq.out" 2>&1 &
  echo $! >"$labdir/dnsmasq.pid"

  ip netns exec "$I" python3 "$here/services.py" --dir "$labdir/www" \
    --cert "$labdir/server.crt" --key "$labdir/server.key" \
    --https 203.0.113.5:443 --https 203.0.113.10:443 --https 203.0.113.31:443 \
    --http 203.0.113.10:80 --http 203.0.113.20:80 \
    --tcp-echo 203.0.113.20:7 --udp-echo 203.0.113.20:123 \
    >"$labdir/services.out" 2>&1 &
  echo $! >"$labdir/services.pid"

  if command -v iperf3 >/dev/null; then
    ip netns exec "$I" iperf3 -s -B 203.0.113.20 >"$labdir/iperf3.out" 2>&1 &
    echo $! >"$labdir/iperf3.pid"
  fi

  # Wait (bounded) for the services and the DNS server to listen.
  for _ in $(seq 1 100); do
    if grep -q "services ready" "$labdir/services.out" 2>/dev/null &&
      in_ns "$I" ss -lnu | grep -q '203.0.113.53:53 '; then
      break
    fi
    sleep 0.1
  done
  grep -q "services ready" "$labdir/services.out" || die "the Internet services did not start: $(cat "$labdir/services.out")"
  in_ns "$I" ss -lnu | grep -q '203.0.113.53:53 ' || die "dnsmasq did not start: $(cat "$labdir/dnsmasq.out")"
  cat "$env"
}

set_host() {
  local name="${1:-}" addr="${2:-}"
  [[ "$name" =~ ^[a-zA-Z0-9.-]+$ ]] || die "set-host: bad name '$name'"
  [[ "$addr" =~ ^[0-9a-fA-F.:]+$ ]] || die "set-host: bad address '$addr'"
  [ -f "$labdir/hosts" ] || die "no lab '$prefix' (run lab.sh up $prefix first)"
  grep -v -E "[[:space:]]$name\$" "$labdir/hosts" >"$labdir/hosts.new" || true
  echo "$addr $name" >>"$labdir/hosts.new"
  mv "$labdir/hosts.new" "$labdir/hosts"
  kill -HUP "$(cat "$labdir/dnsmasq.pid")"
}

add_hosts() {
  local name="${1:-}"
  shift || true
  [[ "$name" =~ ^[a-zA-Z0-9.-]+$ ]] || die "add-hosts: bad name '$name'"
  [ -f "$labdir/hosts" ] || die "no lab '$prefix' (run lab.sh up $prefix first)"
  [ $# -ge 1 ] || die "add-hosts: give addresses"
  for addr in "$@"; do
    [[ "$addr" =~ ^[0-9a-fA-F.:]+$ ]] || die "add-hosts: bad address '$addr'"
    echo "$addr $name" >>"$labdir/hosts"
  done
  kill -HUP "$(cat "$labdir/dnsmasq.pid")"
}

case "$cmd" in
  up) up "${3:-3}" ;;
  down) down ;;
  set-host) set_host "${3:-}" "${4:-}" ;;
  add-hosts) shift 2; add_hosts "$@" ;;
  env) cat "$labdir/env" ;;
  *) die "unknown command '$cmd' (up, down, set-host, env)" ;;
esac
