# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Download a model's files from the Hugging Face Hub into huggingface_hub's cache layout.

Private to this collection (the hf_download module). Standard library only, so it runs on the host's own
Python before anything else is installed, beside the driver and Docker installs:

- the cache layout huggingface_hub and vLLM read offline: ``<cache>/hub/models--<owner>--<name>/`` with
  ``blobs/<etag>``, ``snapshots/<commit>/<file>`` (a link to the blob) and ``refs/<revision>``;
- the largest files first, each in parallel HTTP range requests when the server allows them (the Hub's
  CDN does), one stream otherwise;
- a file is written as ``blobs/<etag>.incomplete`` (its space reserved up front, so a full disk shows at
  once) and becomes the blob only when every byte has arrived: a partial file is never taken for a
  complete one, and a re-run resumes the parts that are done;
- passing errors (connection resets, timeouts, HTTP 429 and 5xx) are retried with a growing pause,
  ``Retry-After`` honoured up to a cap; refusals (401, 403, 404) are not;
- progress (bytes done, rate) is written to a JSON file every second for the status page and the motd.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import hf_hub

PART_SIZE = 64 * 1024 * 1024
READ_SIZE = 1024 * 1024
RETRY_AFTER_CAP = 60.0
BACKOFF_CAP = 30.0


class DownloadError(Exception):
    def __init__(self, reason_code, message):
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


class _DropAuthOnOtherHost(HTTPRedirectHandler):
    """Follow the Hub's redirects to its CDN without sending the token there (as huggingface_hub does)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


class Progress:
    """Bytes done across every file, written as JSON for whoever shows progress."""

    def __init__(self, path, model, total, done=0):
        self.path = path
        self.model = model
        self.total = total
        self.done = done
        self.start_done = done
        self.started = time.time()
        self.state = "running"
        self.error = ""
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def add(self, count):
        with self.lock:
            self.done += count

    def snapshot(self):
        with self.lock:
            elapsed = max(time.time() - self.started, 0.001)
            rate = (self.done - self.start_done) / elapsed
            remaining = max(self.total - self.done, 0)
            return {
                "phase": "model_download",
                "model": self.model,
                "state": self.state,
                "total_bytes": self.total,
                "done_bytes": self.done,
                "bytes_per_second": int(rate),
                "eta_seconds": int(remaining / rate) if rate > 0 and self.state == "running" else None,
                "started_at": self.started,
                "updated_at": time.time(),
                "error": self.error,
            }

    def write(self):
        if not self.path:
            return
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(self.path + ".tmp", "w") as handle:
            json.dump(self.snapshot(), handle)
        os.chmod(self.path + ".tmp", 0o644)
        os.replace(self.path + ".tmp", self.path)

    def run(self):
        while not self.stop.wait(1.0):
            self.write()

    def finish(self, state, error=""):
        self.state, self.error = state, error
        self.stop.set()
        self.write()


def relative_link(snapshot_file, blob):
    return os.path.relpath(blob, os.path.dirname(snapshot_file))


def plan_parts(size, part_size=PART_SIZE):
    """[(start, end)] inclusive byte ranges covering ``size`` bytes."""
    if size <= 0:
        return [(0, -1)]
    return [(start, min(start + part_size, size) - 1) for start in range(0, size, part_size)]


class Downloader:
    def __init__(
        self,
        endpoint,
        repo_id,
        sha,
        cache_dir,
        token=None,
        revision=None,
        connections=8,
        timeout=60,
        retries=5,
        progress_path=None,
        part_size=PART_SIZE,
        sleep=time.sleep,
    ):
        self.endpoint = endpoint.rstrip("/")
        self.repo_id = repo_id
        self.sha = sha
        self.revision = revision or sha
        self.cache_dir = cache_dir
        self.token = token
        self.connections = max(1, int(connections))
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.progress_path = progress_path
        self.part_size = part_size
        self.sleep = sleep
        self.opener = build_opener(_DropAuthOnOtherHost())
        self.repo_dir = hf_hub.cache_repo_dir(cache_dir, repo_id)

    # --- HTTP ----------------------------------------------------------------------------------
    def url(self, name):
        return "%s/%s/resolve/%s/%s" % (self.endpoint, self.repo_id, self.sha, quote(name))

    def open(self, url, byte_range=None):
        headers = {"User-Agent": "oneclick.ai_sandbox hf_download", "Accept-Encoding": "identity"}
        if self.token:
            headers["Authorization"] = "Bearer %s" % self.token
        if byte_range is not None:
            headers["Range"] = "bytes=%d-%d" % byte_range
        return self.opener.open(Request(url, headers=headers), timeout=self.timeout)

    def with_retries(self, what, action):
        """Run action() and retry passing errors with a growing, capped pause."""
        attempt = 0
        while True:
            try:
                return action()
            except HTTPError as exc:
                if exc.code not in (408, 429, 500, 502, 503, 504) or attempt >= self.retries:
                    reason, message = hf_hub.classify_http_error(
                        exc.code, exc.headers.get("X-Error-Code"), bool(self.token), self.repo_id, self.endpoint
                    )
                    if exc.code in (408, 429, 500, 502, 503, 504):
                        reason = "download_failed"
                    raise DownloadError(reason, "%s: %s" % (what, message)) from None
                pause = self._retry_after(exc.headers.get("Retry-After"), attempt)
            except (URLError, ConnectionError, TimeoutError) as exc:
                if attempt >= self.retries:
                    raise DownloadError(
                        "download_failed",
                        "%s: %s after %d tries" % (what, getattr(exc, "reason", exc), attempt + 1),
                    ) from None
                pause = min(2.0**attempt, BACKOFF_CAP)
            attempt += 1
            self.sleep(pause)

    @staticmethod
    def _retry_after(value, attempt):
        try:
            return min(max(float(value), 0.0), RETRY_AFTER_CAP)
        except (TypeError, ValueError):
            return min(2.0**attempt, BACKOFF_CAP)

    # --- files ---------------------------------------------------------------------------------
    def snapshot_file(self, name):
        return os.path.join(self.repo_dir, "snapshots", self.sha, name)

    def complete(self, name, size):
        path = self.snapshot_file(name)
        return os.path.exists(path) and (size is None or os.path.getsize(path) == size)

    def probe(self, name):
        """(etag, size, ranges supported) of a file, from a one-byte range request."""

        def action():
            response = self.open(self.url(name), (0, 0))
            try:
                headers = response.headers
                etag = headers.get("X-Linked-Etag") or headers.get("ETag") or ""
                etag = etag.replace("W/", "").strip('"')
                size = None
                content_range = headers.get("Content-Range", "")
                if response.status == 206 and "/" in content_range:
                    size = int(content_range.rsplit("/", 1)[1])
                elif headers.get("X-Linked-Size"):
                    size = int(headers["X-Linked-Size"])
                elif headers.get("Content-Length"):
                    size = int(headers["Content-Length"])
                return etag, size, response.status == 206
            finally:
                response.close()

        return self.with_retries("probing %s" % name, action)

    def fetch_file(self, name, expected_size, progress, pool):
        etag, size, ranges = self.probe(name)
        size = expected_size if size is None else size
        if expected_size is not None and size != expected_size:
            raise DownloadError(
                "download_failed",
                "%s is %d bytes on the Hub, not the %d the preflight saw" % (name, size, expected_size),
            )
        blob = os.path.join(self.repo_dir, "blobs", etag or "%s-%s" % (self.sha, name.replace("/", "_")))
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        if not (os.path.exists(blob) and os.path.getsize(blob) == size):
            self._fetch_blob(name, blob, size, ranges, progress, pool)
        else:
            progress.add(size)
        link = self.snapshot_file(name)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(relative_link(link, blob), link)
        return size

    def _fetch_blob(self, name, blob, size, ranges, progress, pool):
        partial = blob + ".incomplete"
        state_path = partial + ".parts"
        parts = plan_parts(size, self.part_size) if ranges else [(0, size - 1)]
        done = set()
        if ranges and os.path.exists(partial) and os.path.getsize(partial) == size:
            try:
                with open(state_path) as handle:
                    done = {tuple(part) for part in json.load(handle)}
            except (OSError, ValueError):
                done = set()
        else:
            self._reserve(partial, size, name)
        progress.add(sum(end - start + 1 for start, end in done))
        lock = threading.Lock()

        def record(part):
            with lock:
                done.add(part)
                with open(state_path + ".tmp", "w") as handle:
                    json.dump(sorted(done), handle)
                os.replace(state_path + ".tmp", state_path)

        todo = [part for part in parts if part not in done]
        if ranges:
            futures = [pool.submit(self._fetch_part, name, partial, part, progress, record) for part in todo]
            for future in futures:
                future.result()
        elif todo:
            self._fetch_part(name, partial, parts[0], progress, record, whole=True)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, blob)
        if os.path.exists(state_path):
            os.remove(state_path)

    def _reserve(self, path, size, name):
        """Claim the file's space now, so that a full disk is known before any byte moves."""
        try:
            with open(path, "wb") as handle:
                if size > 0:
                    try:
                        os.posix_fallocate(handle.fileno(), 0, size)
                    except OSError as exc:
                        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                            raise
                        handle.truncate(size)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                self._disk_full(name, size)
            raise

    def _disk_full(self, name, size):
        stat = os.statvfs(self.repo_dir if os.path.isdir(self.repo_dir) else self.cache_dir)
        free = stat.f_bavail * stat.f_frsize
        raise DownloadError(
            "download_failed",
            "disk full while downloading %s: it needs %.1f GB and %s has %.1f GB free; free %.1f GB more "
            "(df -h), then run again (finished files are kept)"
            % (name, size / 1e9, self.cache_dir, free / 1e9, max(size - free, 0) / 1e9),
        )

    def _fetch_part(self, name, partial, part, progress, record, whole=False):
        start, end = part

        def action():
            written = 0
            response = self.open(self.url(name), None if whole else part)
            try:
                if not whole and response.status != 206:
                    raise DownloadError("download_failed", "%s: the server ignored a range request" % name)
                with open(partial, "rb+") as handle:
                    handle.seek(start)
                    while True:
                        block = response.read(READ_SIZE)
                        if not block:
                            break
                        try:
                            handle.write(block)
                        except OSError as exc:
                            if exc.errno == errno.ENOSPC:
                                self._disk_full(name, end - start + 1)
                            raise
                        written += len(block)
                        progress.add(len(block))
                    # On disk before it is recorded as done: after a power cut a part the state file
                    # calls done must hold its bytes, not the zeros its reserved space started with.
                    handle.flush()
                    os.fsync(handle.fileno())
            except BaseException:
                progress.add(-written)
                raise
            finally:
                response.close()
            if written != end - start + 1:
                progress.add(-written)
                raise ConnectionError("%s: %d of %d bytes arrived" % (name, written, end - start + 1))
            record(part)

        self.with_retries("downloading %s" % name, action)

    def run(self, files, sizes):
        """Download the files (names) that are not complete yet; largest first. Returns the bytes moved."""
        sizes = dict(sizes or {})
        wanted = sorted(files, key=lambda name: -(sizes.get(name) or 0))
        missing = [name for name in wanted if not self.complete(name, sizes.get(name))]
        total = sum(sizes.get(name) or 0 for name in wanted)
        already = total - sum(sizes.get(name) or 0 for name in missing)
        progress = Progress(self.progress_path, self.repo_id, total, already)
        writer = threading.Thread(target=progress.run, daemon=True)
        writer.start()
        moved = 0
        try:
            with ThreadPoolExecutor(max_workers=self.connections) as pool:
                for name in missing:
                    moved += self.fetch_file(name, sizes.get(name), progress, pool)
            if self.revision != self.sha:
                refs = os.path.join(self.repo_dir, "refs", self.revision)
                os.makedirs(os.path.dirname(refs), exist_ok=True)
                with open(refs, "w") as handle:
                    handle.write(self.sha)
        except DownloadError as exc:
            progress.finish("failed", exc.message)
            raise
        except OSError as exc:
            progress.finish("failed", str(exc))
            raise DownloadError("download_failed", "writing the model under %s: %s" % (self.cache_dir, exc)) from None
        progress.finish("done")
        return moved, missing
