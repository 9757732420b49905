"""STAND-IN for the network between a Linode and the places a first boot downloads from (test infrastructure).

Two servers, each throttled to the lab profile's bandwidths (tests/standins/throttle.py: limits in real
bytes per second; an artefact the lab serves at 1/scale of its size is charged `scale` real bytes per byte):

  static    the apt repositories (Ubuntu's archive, NVIDIA's, the container toolkit's: see
            tests/standins/nvidia/apt_repos.py) as files under a directory, one limit per path prefix
  registry  a TLS front for a real registry (Debian's docker-registry on loopback): the machines' dockerd
            pulls through it as from Docker Hub or ghcr.io, with the certificate of a lab CA the machines
            trust (/etc/docker/certs.d/<host:port>/ca.crt); blob downloads are limited per connection (a CDN
            stream) and per client and repository (one image's layers unpack one after another on one core)

  python3 mirror_server.py static --root DIR --port N [--host H] [--limit PREFIX=BYTES_PER_S ...]
                                  [--charge SUFFIX=FACTOR ...] [--log FILE]
  python3 mirror_server.py registry --upstream http://127.0.0.1:5000 --port N --cert C --key K [--host H]
                                  [--per-connection BYTES_PER_S] [--per-pull BYTES_PER_S]
                                  [--charge REPOSITORY=FACTOR ...] [--log FILE]

Each request is logged as one JSON line: time, client, method, path, status, bytes sent.
"""

import argparse
import http.client
import json
import os
import re
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from throttle import Throttle  # tests/standins/throttle.py

CHUNK = 64 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}
BLOB = re.compile(r"^/v2/(.+)/blobs/sha256:[0-9a-f]{64}$")


class Log:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, **record):
        if not self.path:
            return
        record = dict(record, time=round(time.time(), 3))
        with self.lock, open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")


def pairs(values, convert=float):
    """['a=1', 'b=2'] -> {'a': 1.0, 'b': 2.0}"""
    out = {}
    for value in values or []:
        key, _sep, number = value.rpartition("=")
        out[key] = convert(number)
    return out


class StaticHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lab-mirror/1"
    root = None
    limits = {}  # path prefix -> Throttle
    charges = {}  # file suffix -> real bytes per served byte
    log = Log(None)

    def log_message(self, fmt, *args):
        pass

    def do_HEAD(self):
        self.serve()

    def do_GET(self):
        self.serve()

    def serve(self):
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        path = os.path.realpath(os.path.join(self.root, relative))
        if not path.startswith(os.path.realpath(self.root) + os.sep) or not os.path.isfile(path):
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)
            self.log.write(client=self.client_address[0], method=self.command, path=self.path, status=404, bytes=0)
            return
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("Last-Modified", self.date_time_string(os.path.getmtime(path)))
        self.end_headers()
        sent = 0
        try:
            if self.command == "GET":
                throttle = next((t for prefix, t in self.limits.items() if ("/" + relative).startswith(prefix)), None)
                charge = next((c for suffix, c in self.charges.items() if relative.endswith(suffix)), 1.0)
                pacer = throttle.pacer(self.client_address[0], charge) if throttle else None
                with open(path, "rb") as handle:
                    while True:
                        block = handle.read(CHUNK)
                        if not block:
                            break
                        if pacer:
                            pacer.pay(len(block))
                        self.wfile.write(block)
                        sent += len(block)
        finally:
            self.log.write(client=self.client_address[0], method=self.command, path=self.path, status=200, bytes=sent)


class RegistryHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lab-registry-front/1"
    upstream = None  # (host, port)
    throttle = Throttle()
    charges = {}  # repository -> real bytes per served byte
    log = Log(None)

    def log_message(self, fmt, *args):
        pass

    def do_HEAD(self):
        self.forward()

    def do_GET(self):
        self.forward()

    def forward(self):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        connection = http.client.HTTPConnection(*self.upstream, timeout=300)
        sent = 0
        status = 502
        try:
            connection.request(self.command, self.path, headers=headers)
            response = connection.getresponse()
            status = response.status
            blob = BLOB.match(urlsplit(self.path).path)
            length = response.getheader("Content-Length")
            body = None
            if length is None and self.command == "GET":
                body = response.read()  # small, chunked answers: manifests, errors
                length = str(len(body))
            self.send_response(status)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            if self.command == "HEAD":
                return
            if body is not None:
                self.wfile.write(body)
                sent = len(body)
                return
            pacer = None
            if blob and status == 200:
                repository = blob.group(1)
                key = "%s %s" % (self.client_address[0], repository)
                pacer = self.throttle.pacer(key, self.charges.get(repository, 1.0))
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                if pacer:
                    pacer.pay(len(block))
                self.wfile.write(block)
                sent += len(block)
        finally:
            connection.close()
            client = self.client_address[0]
            self.log.write(client=client, method=self.command, path=self.path, status=status, bytes=sent)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    static = sub.add_parser("static")
    static.add_argument("--root", required=True)
    static.add_argument("--limit", action="append", help="PATH_PREFIX=REAL_BYTES_PER_S, per connection")
    static.add_argument("--charge", action="append", help="FILE_SUFFIX=REAL_BYTES_PER_SERVED_BYTE")
    registry = sub.add_parser("registry")
    registry.add_argument("--upstream", required=True)
    registry.add_argument("--cert", required=True)
    registry.add_argument("--key", required=True)
    registry.add_argument("--per-connection", type=float, default=0)
    registry.add_argument("--per-pull", type=float, default=0, help="per client and repository")
    registry.add_argument("--charge", action="append", help="REPOSITORY=REAL_BYTES_PER_SERVED_BYTE")
    for each in (static, registry):
        each.add_argument("--host", default="127.0.0.1")
        each.add_argument("--port", type=int, required=True)
        each.add_argument("--log")
    args = parser.parse_args()
    if args.mode == "static":
        StaticHandler.root = args.root
        StaticHandler.limits = {prefix: Throttle(rate) for prefix, rate in pairs(args.limit).items()}
        StaticHandler.charges = pairs(args.charge)
        StaticHandler.log = Log(args.log)
        server = ThreadingHTTPServer((args.host, args.port), StaticHandler)
    else:
        upstream = urlsplit(args.upstream)
        RegistryHandler.upstream = (upstream.hostname, upstream.port or 80)
        RegistryHandler.throttle = Throttle(args.per_connection, args.per_pull)
        RegistryHandler.charges = pairs(args.charge)
        RegistryHandler.log = Log(args.log)
        server = ThreadingHTTPServer((args.host, args.port), RegistryHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    print("lab mirror (%s) on %s:%d" % (args.mode, args.host, args.port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
