"""STAND-IN for the Hugging Face Hub (test infrastructure; the real Hub is not reachable here).

Serves the routes that huggingface_hub 2.4 (snapshot_download, hf_hub_download) and our preflight
module use, with the Hub's headers and error signals:

  GET  /api/models/<owner>/<name>/revision/<rev>[?blobs=true]   model info, siblings (sizes with blobs)
  GET  /api/models/<owner>/<name>/tree/<rev>[?recursive=...]    file listing (oid, size, lfs)
  HEAD /<owner>/<name>/resolve/<rev>/<path>                     X-Repo-Commit, ETag, X-Linked-Etag/-Size
  GET  /<owner>/<name>/resolve/<rev>/<path>                     the file (Range: bytes=N- supported)

Errors carry X-Error-Code as the Hub does: RepoNotFound (401 without a token, 404 with one),
RevisionNotFound, EntryNotFound, GatedRepo (401 without a token, 403 with a token that was not
granted access); an unknown token gets 401. Every request is appended to the access log, so tests
can prove that a second start downloads nothing.

Repositories live in a directory: <root>/<owner>/<name>/manifest.json lists the files, each either
real (a file beside the manifest) or virtual (a size: served as zero bytes, for multi-GB weights that
tests only ever list):

  {"gated": "manual", "files": [{"path": "config.json"}, {"path": "model.safetensors", "virtual_size": 123}]}

  python3 hf_hub_standin.py --root DIR --port 5555 [--host 127.0.0.1] [--tokens tokens.json] [--log access.log]

tokens.json maps each valid token to the gated repos it was granted: {"hf_ok": ["owner/name"]}.
"""

import argparse
import hashlib
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".model")
CHUNK = 1024 * 1024


class Repo:
    def __init__(self, repo_id, directory):
        self.id = repo_id
        self.directory = directory
        with open(os.path.join(directory, "manifest.json")) as handle:
            manifest = json.load(handle)
        self.gated = manifest.get("gated", False)
        self.files = {}
        digest = hashlib.sha1(repo_id.encode())
        for entry in manifest["files"]:
            path = entry["path"]
            if "virtual_size" in entry:
                size, source = int(entry["virtual_size"]), None
            else:
                source = os.path.join(directory, path)
                size = os.path.getsize(source)
            oid = hashlib.sha1(("%s:%d" % (path, size)).encode()).hexdigest()
            sha256 = hashlib.sha256(("%s:%d" % (path, size)).encode()).hexdigest()
            self.files[path] = {"size": size, "source": source, "oid": oid, "sha256": sha256}
            digest.update(oid.encode())
        self.sha = digest.hexdigest()

    def is_lfs(self, path):
        return path.endswith(LFS_SUFFIXES)


class Hub:
    def __init__(self, root, tokens, log_path):
        self.repos = {}
        for owner in sorted(os.listdir(root)):
            for name in sorted(os.listdir(os.path.join(root, owner))):
                directory = os.path.join(root, owner, name)
                if os.path.isfile(os.path.join(directory, "manifest.json")):
                    repo_id = "%s/%s" % (owner, name)
                    self.repos[repo_id] = Repo(repo_id, directory)
        self.tokens = tokens
        self.log_path = log_path
        self.lock = threading.Lock()

    def log(self, line):
        if not self.log_path:
            return
        with self.lock, open(self.log_path, "a") as handle:
            handle.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), line))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hf-hub-standin/1"
    hub = None  # set by main()

    def log_message(self, fmt, *args):  # the access log is ours
        pass

    # --- helpers -------------------------------------------------------------------------------
    def token(self):
        header = self.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else None

    def send(self, status, body=b"", headers=None, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.hub.log("%s %s %d" % (self.command, self.path, status))

    def error(self, status, code, message):
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self.send(status, {"error": message}, headers)

    def find_repo(self, repo_id):
        """The repo, or None after answering with the Hub's error (and auth checks done)."""
        token = self.token()
        if token is not None and token not in self.hub.tokens:
            self.error(401, None, "Invalid credentials in Authorization header")
            return None
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self.error(
                404 if token else 401,
                "RepoNotFound",
                "Repository Not Found for url: %s. Please make sure you specified the correct `repo_id` and "
                "`repo_type`. If you are trying to access a private or gated repo, make sure you are "
                "authenticated." % self.path,
            )
            return None
        return repo

    def check_revision(self, repo, revision):
        if revision in ("main", repo.sha):
            return True
        self.error(404, "RevisionNotFound", "Invalid rev id: %s" % revision)
        return False

    def check_gate(self, repo):
        if not repo.gated:
            return True
        token = self.token()
        if token is None:
            self.error(
                401,
                "GatedRepo",
                "Access to model %s is restricted. You must have access to it and be authenticated to access it. "
                "Please log in." % repo.id,
            )
            return False
        if repo.id not in self.hub.tokens.get(token, []):
            self.error(
                403,
                "GatedRepo",
                "Access to model %s is restricted and you are not in the authorized list. Visit "
                "https://huggingface.co/%s to ask for access." % (repo.id, repo.id),
            )
            return False
        return True

    # --- routes --------------------------------------------------------------------------------
    def do_HEAD(self):
        self.route()

    def do_GET(self):
        self.route()

    def route(self):
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        match = re.match(r"^/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)/?$", path)
        if match:
            return self.api(match.group(1), match.group(2), match.group(3), query)
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if match:
            return self.resolve(match.group(1), match.group(2), match.group(3))
        return self.error(404, None, "Not Found")

    def api(self, repo_id, kind, revision, query):
        repo = self.find_repo(repo_id)
        if repo is None or not self.check_revision(repo, revision):
            return None
        if kind == "tree":
            entries = []
            for path, meta in sorted(repo.files.items()):
                entry = {"type": "file", "oid": meta["oid"], "size": meta["size"], "path": path}
                if repo.is_lfs(path):
                    entry["lfs"] = {"oid": meta["sha256"], "size": meta["size"], "pointerSize": 134}
                entries.append(entry)
            return self.send(200, entries)
        with_sizes = query.get("blobs", ["false"])[0] == "true"
        siblings = []
        for path, meta in sorted(repo.files.items()):
            sibling = {"rfilename": path}
            if with_sizes:
                sibling.update({"size": meta["size"], "blobId": meta["oid"]})
            siblings.append(sibling)
        return self.send(
            200,
            {
                "_id": repo.sha[:24],
                "id": repo.id,
                "modelId": repo.id,
                "author": repo.id.split("/")[0],
                "sha": repo.sha,
                "private": False,
                "gated": repo.gated,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "lastModified": "2026-01-01T00:00:00.000Z",
            },
        )

    def resolve(self, repo_id, revision, filename):
        repo = self.find_repo(repo_id)
        if repo is None or not self.check_revision(repo, revision) or not self.check_gate(repo):
            return None
        meta = repo.files.get(filename)
        if meta is None:
            return self.error(404, "EntryNotFound", "%s does not exist on %s" % (filename, revision))
        size = meta["size"]
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        if match:
            start = min(int(match.group(1)), size)
        etag = meta["sha256"] if repo.is_lfs(filename) else meta["oid"]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        self.send_header("ETag", '"%s"' % etag)
        self.send_header("X-Repo-Commit", repo.sha)
        self.send_header("Accept-Ranges", "bytes")
        if repo.is_lfs(filename):
            self.send_header("X-Linked-Etag", '"%s"' % etag)
            self.send_header("X-Linked-Size", str(size))
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        self.end_headers()
        self.hub.log("%s %s %d" % (self.command, self.path, 206 if start else 200))
        if self.command == "HEAD":
            return None
        if meta["source"]:
            with open(meta["source"], "rb") as handle:
                handle.seek(start)
                while True:
                    block = handle.read(CHUNK)
                    if not block:
                        break
                    self.wfile.write(block)
        else:
            remaining = size - start
            zeros = bytes(CHUNK)
            while remaining > 0:
                block = zeros[: min(CHUNK, remaining)]
                self.wfile.write(block)
                remaining -= len(block)
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="directory of <owner>/<name>/manifest.json repos")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5555)
    parser.add_argument("--tokens", help="JSON file: {token: [gated repo ids it may read]}")
    parser.add_argument("--log", help="append one line per request to this file")
    args = parser.parse_args()
    tokens = {}
    if args.tokens:
        with open(args.tokens) as handle:
            tokens = json.load(handle)
    Handler.hub = Hub(args.root, tokens, args.log)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(
        "hf-hub stand-in serving %d repos on http://%s:%d" % (len(Handler.hub.repos), args.host, args.port), flush=True
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
