#!/usr/bin/env python3
"""The lab's "Internet" services, in one process (started by lab.sh inside the
internet namespace). Standard library only.

  --https ADDR:PORT   HTTPS file server over DIR (makers' clouds, the MUD server);
                      /redirect-loop redirects to itself forever; POST reads
                      and drops the body (an upload sink) and answers its size
  --http ADDR:PORT    the same over plain HTTP
  --tcp-echo ADDR:PORT
  --udp-echo ADDR:PORT  (NTP-like: one datagram in, the same datagram back)

Every service answers until the process is killed.
"""
import argparse
import http.server
import socket
import socketserver
import ssl
import sys
import threading


def split(a):
    host, port = a.rsplit(":", 1)
    return host, int(port)


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        if self.path.startswith("/redirect-loop"):
            n = self.path.count("x")
            self.send_response(302)
            self.send_header("Location", "/redirect-loop?" + "x" * (n + 1))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/whoami":
            body = ("%s\n" % self.client_address[0]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        return super().do_GET()

    def do_POST(self):
        # An upload sink (rate-limit tests): read the body, answer its size.
        try:
            left = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.send_error(400, "Content-Length is not a number")
            return
        got = 0
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            got += len(chunk)
            left -= len(chunk)
        body = ("%d\n" % got).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_http(addr, directory, tls=None):
    h = lambda *a, **k: Handler(*a, directory=directory, **k)  # noqa: E731
    srv = ThreadingHTTPServer(addr, h)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class ThreadingTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_tcp_echo(addr):
    srv = ThreadingTCPServer(addr, Echo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def serve_udp_echo(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(addr)

    def loop():
        while True:
            data, peer = s.recvfrom(65536)
            s.sendto(data, peer)

    threading.Thread(target=loop, daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--https", action="append", default=[])
    p.add_argument("--http", action="append", default=[])
    p.add_argument("--tcp-echo", action="append", default=[])
    p.add_argument("--udp-echo", action="append", default=[])
    a = p.parse_args()
    for x in a.https:
        serve_http(split(x), a.dir, (a.cert, a.key))
    for x in a.http:
        serve_http(split(x), a.dir)
    for x in a.tcp_echo:
        serve_tcp_echo(split(x))
    for x in a.udp_echo:
        serve_udp_echo(split(x))
    print("services ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
