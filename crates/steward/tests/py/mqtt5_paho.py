#!/usr/bin/env python3
"""MQTT 5 properties against Steward, with paho-mqtt (a third-party client).

Usage: mqtt5_paho.py HOST PORT CAFILE CERT KEY DEVICE_ID OTHER_DEVICE_ID
Exits 0 when every check holds; prints what failed otherwise.
"""
import ssl
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

host, port, cafile, cert, key, device, other = sys.argv[1:8]
port = int(port)
failures = []
connack = {}
acks = {}
done = {}


def on_connect(client, userdata, flags, reason_code, properties):
    connack["rc"] = reason_code.value
    connack["props"] = properties
    done.setdefault("connect", threading.Event()).set()


def on_publish(client, userdata, mid, reason_code, properties):
    acks[mid] = (reason_code.value, getattr(properties, "ReasonString", None))
    done.setdefault(mid, threading.Event()).set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-" + device, protocol=mqtt.MQTTv5)
client.tls_set(ca_certs=cafile, certfile=cert, keyfile=key, tls_version=ssl.PROTOCOL_TLS_CLIENT)
client.on_connect = on_connect
client.on_publish = on_publish
done["connect"] = threading.Event()
client.connect(host, port, keepalive=30)
client.loop_start()
if not done["connect"].wait(10):
    print("no CONNACK")
    sys.exit(1)
if connack["rc"] != 0:
    print("CONNACK refused:", connack["rc"])
    sys.exit(1)
props = connack["props"]
if not getattr(props, "MaximumPacketSize", None):
    failures.append("CONNACK has no Maximum Packet Size")
if not getattr(props, "ReceiveMaximum", None):
    failures.append("CONNACK has no Receive Maximum")


def publish(topic, payload, content_type=None):
    p = Properties(PacketTypes.PUBLISH)
    if content_type:
        p.ContentType = content_type
    info = client.publish(topic, payload, qos=1, properties=p)
    done.setdefault(info.mid, threading.Event())
    if not done[info.mid].wait(10):
        return (None, None)
    return acks[info.mid]


telemetry = "steward/v1/devices/%s/telemetry" % device
# SenML CBOR, chosen by the MQTT 5 content type: [{0: "cbor-temp", 1: "Cel", 2: 21.5}]
cbor = bytes.fromhex("81a300696362 6f722d74656d70 0163 43656c 02fb4035800000000000".replace(" ", ""))
rc, reason = publish(telemetry, cbor, "application/senml+cbor")
if rc != 0:
    failures.append("CBOR by content type: reason %s (%s)" % (rc, reason))
rc, reason = publish(telemetry, b'[{"n":"json-temp","u":"Cel","v":20.5}]', "application/senml+json")
if rc != 0:
    failures.append("JSON by content type: reason %s (%s)" % (rc, reason))
rc, reason = publish(telemetry, b"hello", "text/plain")
if rc != 0x99 or not reason:
    failures.append("unsupported content type: expected 0x99 with a reason string, got %s (%s)" % (rc, reason))
rc, reason = publish(telemetry, b'[{"n":"x","v":1,"vb":true}]')
if rc != 0x99 or not reason or "record 0" not in reason:
    failures.append("invalid SenML: expected 0x99 naming the record, got %s (%s)" % (rc, reason))
rc, reason = publish("steward/v1/devices/%s/telemetry" % other, b'[{"n":"x","v":1}]')
if rc != 0x87:
    failures.append("another device's topic: expected 0x87, got %s (%s)" % (rc, reason))

client.disconnect()
client.loop_stop()
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("paho MQTT 5 checks passed")
