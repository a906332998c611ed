#!/usr/bin/env bash
# Installs what Steward's build and tests need, only when it is missing. Idempotent.
# Debian packages: the third-party clients and servers the end-to-end tests use as
# real peers (libcoap3-bin: coap-client-openssl for CoAP over DTLS-PSK; ntpsec-ntpdig:
# an NTP client for Steward's NTP service), and the C
# libraries some crates link (OpenSSL for CMS in the mud crate).
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

for pkg in mosquitto mosquitto-clients libssl-dev pkg-config openssl curl python3-pip procps iproute2 nftables dnsutils busybox jq \
    iputils-ping netcat-openbsd socat iperf3 dnsmasq-base ntpsec-ntpdig \
    libcoap3-bin; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "deps: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for a dpkg lock held by another install instead of failing at once.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# The Debian mosquitto package starts a broker on 1883 through its service scripts on
# some images; the tests start their own brokers on free ports and need none running.
if have systemctl && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl stop mosquitto || true
fi

# paho-mqtt 2.x for MQTT 5 properties in the Python end-to-end tests.
if ! python3 -c 'import paho.mqtt, sys; sys.exit(0 if int(paho.mqtt.__version__.split(".")[0]) >= 2 else 1)' 2>/dev/null; then
  echo "deps: installing paho-mqtt>=2 from PyPI"
  python3 -m pip install -q 'paho-mqtt>=2,<3'
fi

# kpn-senml: the reference SenML library in `cargo bench -p senml --bench decode`.
if ! python3 -c 'import kpn_senml' 2>/dev/null; then
  echo "deps: installing kpn-senml from PyPI"
  python3 -m pip install -q 'kpn-senml==1.0.1'
fi
