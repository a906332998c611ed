#!/usr/bin/env python3
"""A tiny authoritative DNS server (UDP and TCP) for tests: the upstream that
Steward's forwarder asks. Standard library only.

    dns_upstream.py ZONE.json

Listens on 127.0.0.1, a free port shared by UDP and TCP, and prints `port N` once
ready. The zone file is read again for every query, so a test can change it:

    {"api.example.test": {"ttl": 300, "a": ["192.0.2.10"], "aaaa": ["2001:db8::10"]},
     "alias.example.test": {"ttl": 60, "cname": "edge.cdn.test"},
     "big.example.test": {"ttl": 30, "a": [...], "tc_udp": true},
     "silent.example.test": {"drop": true}}

`tc_udp`: over UDP, answer with TC set and no records (the client must use TCP).
`drop`: never answer. Unknown names: NXDOMAIN. Only A, AAAA and CNAME data.
"""
import json
import socket
import struct
import sys
import threading


def read_name(buf, off):
    labels = []
    while True:
        n = buf[off]
        if n == 0:
            return labels, off + 1
        if n & 0xC0:
            raise ValueError("compressed names are not expected in questions")
        labels.append(buf[off + 1 : off + 1 + n])
        off += 1 + n


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def answer(zone_path, query, udp):
    qid, flags, qd = struct.unpack("!HHH", query[:6])
    labels, off = read_name(query, 12)
    qtype, qclass = struct.unpack("!HH", query[off : off + 4])
    question = query[12 : off + 4]
    name = b".".join(labels).decode("ascii", "replace").lower()
    with open(zone_path) as f:
        zone = {k.lower(): v for k, v in json.load(f).items()}
    rd = flags & 0x0100
    records = []
    rcode = 0
    tc = False
    entry = zone.get(name)
    if entry is None:
        rcode = 3
    elif entry.get("drop"):
        return None
    elif entry.get("tc_udp") and udp:
        tc = True
    else:
        owner = name
        seen = 0
        while entry is not None and seen < 20:
            seen += 1
            ttl = entry.get("ttl", 60)
            if "cname" in entry:
                records.append((owner, 5, ttl, encode_name(entry["cname"])))
                owner = entry["cname"].lower()
                entry = zone.get(owner)
                continue
            if qtype in (1, 255):
                for a in entry.get("a", []):
                    records.append((owner, 1, ttl, socket.inet_pton(socket.AF_INET, a)))
            if qtype in (28, 255):
                for a in entry.get("aaaa", []):
                    records.append((owner, 28, ttl, socket.inet_pton(socket.AF_INET6, a)))
            break
    out_flags = 0x8000 | 0x0400 | rd | 0x0080 | rcode | (0x0200 if tc else 0)
    out = struct.pack("!HHHHHH", qid, out_flags, 1, len(records), 0, 0) + question
    for owner, rtype, ttl, data in records:
        out += encode_name(owner) + struct.pack("!HHIH", rtype, 1, ttl, len(data)) + data
    return out


def serve_udp(sock, zone):
    while True:
        data, addr = sock.recvfrom(65535)
        try:
            reply = answer(zone, data, True)
        except Exception as e:  # a test server: say what broke, keep serving
            print(f"bad query: {e}", file=sys.stderr, flush=True)
            continue
        if reply is not None:
            sock.sendto(reply, addr)


def serve_tcp_conn(conn, zone):
    with conn:
        while True:
            head = conn.recv(2, socket.MSG_WAITALL)
            if len(head) < 2:
                return
            (n,) = struct.unpack("!H", head)
            data = conn.recv(n, socket.MSG_WAITALL)
            reply = answer(zone, data, False)
            if reply is None:
                return
            conn.sendall(struct.pack("!H", len(reply)) + reply)


def main():
    zone = sys.argv[1]
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind(("127.0.0.1", port))
            break
        except OSError:
            udp.close()
            tcp.close()
    else:
        sys.exit("no free port for UDP and TCP")
    tcp.listen(16)
    threading.Thread(target=serve_udp, args=(udp, zone), daemon=True).start()
    print(f"port {port}", flush=True)
    while True:
        conn, _ = tcp.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn, zone), daemon=True).start()


if __name__ == "__main__":
    main()
