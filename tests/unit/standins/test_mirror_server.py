"""The lab's mirror servers (tests/standins/mirrors/): apt files and the registry's TLS front, throttled."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import STANDINS

SERVER = os.path.join(STANDINS, "mirrors", "mirror_server.py")
BLOB = "/v2/vllm/vllm-openai/blobs/sha256:" + "ab" * 32


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_record(log, path):
    """The record of a request for `path`: the server writes it once the response is out, so a loaded
    machine may read the log before it is there."""
    deadline = time.monotonic() + 10
    while True:
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        found = [record for record in records if record["path"] == path]
        if found or time.monotonic() > deadline:
            assert found, "no record of %s in %s" % (path, records)
            return found[-1]
        time.sleep(0.1)


def start(*args):
    process = subprocess.Popen([sys.executable, SERVER, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    process.stdout.readline()
    return process


def test_static_files_take_their_real_time(tmp_path):
    root = tmp_path / "root"
    (root / "ubuntu-archive").mkdir(parents=True)
    (root / "ubuntu-archive" / "pkg.deb").write_bytes(os.urandom(100_000))
    (root / "ubuntu-archive" / "Packages").write_text("Package: pkg\n")
    port, log = free_port(), tmp_path / "access.log"
    # 1 MB/s real per connection; a .deb byte stands for 10: 100 kB served = 1 MB real = 1 s (less the burst).
    server = start("static", "--root", str(root), "--port", str(port), "--limit", "/ubuntu-archive/=1000000",
                   "--charge", ".deb=10", "--log", str(log))  # fmt: skip
    try:
        base = "http://127.0.0.1:%d/ubuntu-archive/" % port
        started = time.monotonic()
        assert urllib.request.urlopen(base + "pkg.deb").read() == (root / "ubuntu-archive" / "pkg.deb").read_bytes()
        assert 0.6 < time.monotonic() - started < 15  # a loaded 2-core CI machine can be slow, never fast
        started = time.monotonic()
        assert urllib.request.urlopen(base + "Packages").read() == b"Package: pkg\n"
        assert time.monotonic() - started < 5
        for missing in ("nope.deb", "../../etc/passwd"):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(base + missing)
            assert error.value.code == 404
        assert wait_for_record(log, "/ubuntu-archive/pkg.deb")["bytes"] == 100_000
    finally:
        server.terminate()
        server.wait(timeout=10)


class FakeRegistry(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    blob = os.urandom(200_000)

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if self.path == BLOB:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.blob)))
            self.send_header("Docker-Content-Digest", "sha256:" + "ab" * 32)
            self.end_headers()
            self.wfile.write(self.blob)
            return
        body = json.dumps({"schemaVersion": 2}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")
def test_the_registry_front_speaks_tls_and_throttles_blobs(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)  # fmt: skip
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port, log = free_port(), tmp_path / "registry.log"
    # 200 kB stored for 2 MB real, one pull at 1 MB/s: about 2 s.
    server = start("registry", "--upstream", "http://127.0.0.1:%d" % upstream.server_address[1], "--port", str(port),
                   "--cert", str(cert), "--key", str(key), "--per-connection", "10000000", "--per-pull", "1000000",
                   "--charge", "vllm/vllm-openai=10", "--log", str(log))  # fmt: skip
    try:
        context = ssl.create_default_context(cafile=str(cert))
        base = "https://127.0.0.1:%d" % port
        manifest = urllib.request.urlopen(base + "/v2/vllm/vllm-openai/manifests/v0.33.0", context=context)
        assert json.loads(manifest.read()) == {"schemaVersion": 2}
        started = time.monotonic()
        response = urllib.request.urlopen(base + BLOB, context=context)
        assert response.read() == FakeRegistry.blob
        assert response.headers["Docker-Content-Digest"] == "sha256:" + "ab" * 32
        assert 1.5 < time.monotonic() - started < 15
        record = wait_for_record(log, BLOB)
        assert record["bytes"] == 200_000 and record["status"] == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
        upstream.shutdown()
