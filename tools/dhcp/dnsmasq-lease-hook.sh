#!/usr/bin/env bash
# dnsmasq --dhcp-script hook: report every DHCPv4 lease event to Steward, for sites
# where dnsmasq (not Steward) is the DHCP server. Steward then registers unknown
# devices (zone "restricted", identity strength "declared") and records their
# hostname, vendor class and MUD URL (option 161), as its own DHCP server would.
#
#   dnsmasq ... --dhcp-script=/path/to/dnsmasq-lease-hook.sh
#
# Environment (dnsmasq passes its own environment on to the script):
#   STEWARD_URL         Steward's API, e.g. https://gw.example:8080 (required)
#   STEWARD_TOKEN_FILE  file holding the admin token (required; e.g. DATA/admin-token)
#   STEWARD_CACERT      CA certificate for an HTTPS API (optional; Steward's ca.crt)
#
# dnsmasq calls it as: ACTION MAC IP [HOSTNAME], ACTION one of add, old, del
# (and tftp, ignored), with DNSMASQ_* variables (see dnsmasq(8), --dhcp-script).
# Device-supplied values go into JSON through jq --arg and to Steward through
# curl's arguments: nothing a device sends is ever evaluated by a shell.
set -euo pipefail

action="${1:-}"
mac="${2:-}"
ip="${3:-}"
hostname="${4:-}"

case "$action" in
  add | old | del) ;;
  *) exit 0 ;; # tftp and anything newer: not lease events
esac
# DHCPv6 events carry a DUID and an IPv6 address: Steward takes IPv4 leases here.
case "$ip" in *:*) exit 0 ;; esac

: "${STEWARD_URL:?set STEWARD_URL to the Steward API address}"
: "${STEWARD_TOKEN_FILE:?set STEWARD_TOKEN_FILE to the file holding the admin token}"
token="$(tr -d '[:space:]' <"$STEWARD_TOKEN_FILE")"

expires="${DNSMASQ_LEASE_EXPIRES:-0}"
[[ "$expires" =~ ^[0-9]+$ ]] || expires=0

body="$(jq -n \
  --arg action "$action" --arg mac "$mac" --arg ip "$ip" \
  --arg hostname "${DNSMASQ_SUPPLIED_HOSTNAME:-$hostname}" \
  --arg vendor_class "${DNSMASQ_VENDOR_CLASS:-}" \
  --arg client_id "${DNSMASQ_CLIENT_ID:-}" \
  --arg mud_url "${DNSMASQ_MUD_URL:-}" \
  --argjson expires "$expires" \
  '{action: $action, mac: $mac, ip: $ip, hostname: $hostname, vendor_class: $vendor_class,
    client_id: ($client_id | gsub(":"; "")), mud_url: $mud_url, expires: $expires}')"

tls=()
[ -n "${STEWARD_CACERT:-}" ] && tls=(--cacert "$STEWARD_CACERT")

printf '%s' "$body" | curl -sS --fail-with-body --max-time 10 "${tls[@]}" \
  -H @<(printf 'Authorization: Bearer %s\n' "$token") \
  -H 'Content-Type: application/json' \
  --data-binary @- "$STEWARD_URL/api/v1/leases" >/dev/null
