"""hf_download against a small Hub-like file server on loopback (ranges, redirects, passing errors) and the
stand-in Hub; the cache layout is the one huggingface_hub reads offline."""

import errno
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import run_module

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import hf_download, hf_hub

REPO = "owner/model"
SHA = "a" * 40
FILES = {
    "consolidated.safetensors": os.urandom(3 * 1024 * 1024 + 17),
    "params.json": b'{"dim": 8}',
    "tokenizer.model.v3": os.urandom(1000),
}


class Server:
    """Serves FILES under /owner/model/resolve/<sha>/<name> (ranges optional); records each request;
    can fail the first N requests of a file with 503 and redirect LFS files to a second host."""

    def __init__(self, ranges=True, fail_first=0, redirect=False):
        self.ranges, self.fail_first, self.redirect = ranges, fail_first, redirect
        self.requests, self.failures = [], {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range"), self.headers.get("Authorization")))
                name = self.path.rsplit("/", 1)[1]
                if self.path.startswith("/cdn/"):
                    return self.serve(name)
                if name not in FILES:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                count = server.failures.get(name, 0)
                if count < server.fail_first:
                    server.failures[name] = count + 1
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if server.redirect and name.endswith(".safetensors"):
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:%d/cdn/%s" % (server.cdn_port, name))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self.serve(name)

            def serve(self, name):
                body = FILES[name]
                etag = hashlib.sha256(body).hexdigest()
                header = self.headers.get("Range")
                if server.ranges and header:
                    start, end = (int(x) for x in header.split("=")[1].split("-"))
                    chunk = body[start : end + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(body)))
                else:
                    chunk = body
                    self.send_response(200)
                self.send_header("ETag", '"%s"' % etag)
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.cdn_port = self.cdn.server_address[1]
        for httpd in (self.httpd, self.cdn):
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def close(self):
        for httpd in (self.httpd, self.cdn):
            httpd.shutdown()
            httpd.server_close()


@pytest.fixture
def server(request):
    instance = Server(**getattr(request, "param", {}))
    yield instance
    instance.close()


def downloader(server, cache, **kwargs):
    kwargs.setdefault("part_size", 1024 * 1024)
    kwargs.setdefault("sleep", lambda seconds: None)
    return hf_download.Downloader(server.url, REPO, SHA, str(cache), revision="main", token="hf_secret_token", **kwargs)


def sizes():
    return {name: len(body) for name, body in FILES.items()}


def test_the_cache_layout_is_huggingface_hubs(server, tmp_path):
    progress = tmp_path / "progress.json"
    moved, fetched = downloader(server, tmp_path, progress_path=str(progress)).run(list(FILES), sizes())
    repo = tmp_path / "hub" / "models--owner--model"
    assert moved == sum(sizes().values()) and fetched[0] == "consolidated.safetensors"  # the largest first
    for name, body in FILES.items():
        link = repo / "snapshots" / SHA / name
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        assert link.read_bytes() == body
        assert os.path.basename(os.path.realpath(link)) == hashlib.sha256(body).hexdigest()
    assert (repo / "refs" / "main").read_text() == SHA
    assert not list((repo / "blobs").glob("*.incomplete*"))
    report = json.loads(progress.read_text())
    assert (report["state"], report["done_bytes"], report["total_bytes"]) == ("done", moved, moved)


def test_large_files_come_in_parallel_ranges(server, tmp_path):
    downloader(server, tmp_path, connections=4).run(list(FILES), sizes())
    ranges = [r for path, r, _auth in server.requests if path.endswith("consolidated.safetensors") and r != "bytes=0-0"]
    assert len(ranges) == 4 and "bytes=3145728-3145744" in ranges


@pytest.mark.parametrize("server", [{"ranges": False}], indirect=True)
def test_a_server_without_ranges_gets_one_stream(server, tmp_path):
    downloader(server, tmp_path).run(list(FILES), sizes())
    path = tmp_path / "hub" / "models--owner--model" / "snapshots" / SHA / "consolidated.safetensors"
    assert path.read_bytes() == FILES["consolidated.safetensors"]


def test_a_second_run_downloads_nothing(server, tmp_path):
    downloader(server, tmp_path).run(list(FILES), sizes())
    before = len(server.requests)
    moved, fetched = downloader(server, tmp_path).run(list(FILES), sizes())
    assert (moved, fetched, len(server.requests)) == (0, [], before)


@pytest.mark.parametrize("server", [{"fail_first": 2}], indirect=True)
def test_passing_errors_are_retried(server, tmp_path):
    pauses = []
    downloader(server, tmp_path, sleep=pauses.append).run(list(FILES), sizes())
    assert pauses and max(pauses) <= hf_download.RETRY_AFTER_CAP
    assert (tmp_path / "hub" / "models--owner--model" / "snapshots" / SHA / "params.json").exists()


@pytest.mark.parametrize("server", [{"fail_first": 10}], indirect=True)
def test_errors_that_do_not_pass_fail_with_the_download_class(server, tmp_path):
    with pytest.raises(hf_download.DownloadError) as caught:
        downloader(server, tmp_path, retries=2).run(["params.json"], sizes())
    assert caught.value.reason_code == "download_failed"


def test_a_missing_file_is_not_found_and_never_retried(server, tmp_path):
    pauses = []
    with pytest.raises(hf_download.DownloadError) as caught:
        downloader(server, tmp_path, sleep=pauses.append).run(["nope.json"], {"nope.json": 3})
    assert caught.value.reason_code == "not_found" and pauses == []


@pytest.mark.parametrize("server", [{"redirect": True}], indirect=True)
def test_the_token_is_not_sent_to_the_cdn(server, tmp_path):
    downloader(server, tmp_path).run(list(FILES), sizes())
    cdn = [auth for path, _r, auth in server.requests if path.startswith("/cdn/")]
    hub = [auth for path, _r, auth in server.requests if not path.startswith("/cdn/")]
    assert cdn and all(auth is None for auth in cdn)
    assert hub and all(auth == "Bearer hf_secret_token" for auth in hub)


def test_an_interrupted_download_resumes_its_parts_and_is_never_taken_for_complete(server, tmp_path, monkeypatch):
    original = hf_download.Downloader._fetch_part
    calls = {"n": 0}

    def flaky(self, name, partial, part, progress, record, whole=False):
        calls["n"] += 1
        if name == "consolidated.safetensors" and part[0] >= 2 * 1024 * 1024:
            raise hf_download.DownloadError("download_failed", "cut")
        return original(self, name, partial, part, progress, record, whole)

    monkeypatch.setattr(hf_download.Downloader, "_fetch_part", flaky)
    with pytest.raises(hf_download.DownloadError):
        downloader(server, tmp_path, connections=1).run(["consolidated.safetensors"], sizes())
    snapshot = tmp_path / "hub" / "models--owner--model" / "snapshots" / SHA / "consolidated.safetensors"
    assert not snapshot.exists()
    assert list((tmp_path / "hub" / "models--owner--model" / "blobs").glob("*.incomplete"))
    monkeypatch.setattr(hf_download.Downloader, "_fetch_part", original)
    server.requests.clear()
    downloader(server, tmp_path, connections=1).run(["consolidated.safetensors"], sizes())
    assert snapshot.read_bytes() == FILES["consolidated.safetensors"]
    assert "bytes=0-1048575" not in [r for _p, r, _a in server.requests]  # the parts done before were kept


def test_a_full_disk_says_how_much_space_is_needed(server, tmp_path, monkeypatch):
    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(hf_download.DownloadError) as caught:
        downloader(server, tmp_path).run(["consolidated.safetensors"], sizes())
    assert caught.value.reason_code == "download_failed"
    assert "disk full while downloading consolidated.safetensors" in caught.value.message
    assert "free" in caught.value.message and "GB more" in caught.value.message


def test_the_module_downloads_writes_a_manifest_and_the_preflight_then_needs_no_hub(hf_hub, tmp_path):
    """hf_model_info -> hf_download against the stand-in Hub, then hf_model_info with an unreachable Hub."""
    endpoint = hf_hub[0]
    asked = {"model": "oneclick-testbed/tiny-chat", "endpoint": endpoint, "cache_dir": str(tmp_path)}
    info = run_module("hf_model_info", asked)
    assert info["model"]["format"] == "hf" and info["model"]["from_cache"] is False
    done = run_module("hf_download", {"model": info["model"], "endpoint": endpoint, "cache_dir": str(tmp_path)})
    assert done["changed"] and set(done["downloaded_files"]) == set(
        info["model"]["weight_files"] + info["model"]["support_files"]
    )
    again = run_module("hf_download", {"model": info["model"], "endpoint": endpoint, "cache_dir": str(tmp_path)})
    assert not again["changed"] and again["downloaded_files"] == []
    offline = run_module("hf_model_info", dict(asked, endpoint="http://127.0.0.1:9"))
    assert not offline.get("failed"), offline
    model = offline["model"]
    assert model["from_cache"] and model["cached"] and model["sha"] == info["model"]["sha"]


def test_mistral_repositories_are_fetched_in_the_mistral_format():
    names = (
        "config.json", "consolidated.safetensors", "params.json", "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer.model",
        "tokenizer.model.v3", "tokenizer_config.json", "generation_config.json",
    )  # fmt: skip
    listing = [{"name": name, "size": 1} for name in names]
    expected = ("mistral", ["consolidated.safetensors"], ["params.json", "tokenizer.model.v3"])
    assert hf_hub.choose_format(listing) == expected
    fmt, weights, support = hf_hub.choose_format(listing, "hf")
    assert fmt == "hf" and weights == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert "params.json" not in support and "config.json" in support and "tokenizer.json" in support
    assert hf_hub.ENGINE_ARGS["mistral"] == ["--load-format", "mistral", "--config-format", "mistral",
                                             "--tokenizer-mode", "mistral"]  # fmt: skip
    plain = [{"name": "config.json", "size": 1}, {"name": "model.safetensors", "size": 1}]
    assert hf_hub.choose_format(plain)[0] == "hf"
    with pytest.raises(hf_hub.FormatError, match="'mistral' needs consolidated"):
        hf_hub.choose_format(plain, "mistral")
    tekken = [*listing, {"name": "tekken.json", "size": 1}]
    assert hf_hub.choose_format(tekken)[2] == ["params.json", "tekken.json"]
