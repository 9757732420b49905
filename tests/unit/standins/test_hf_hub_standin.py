"""The Hugging Face Hub stand-in itself: ranges, headers, generated content, throttling, the access log."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import STANDINS

REPO = "lab/scaled-model"
TOKEN = "hf_lab"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A Hub with one gated repo: a real file, generated weights standing for 50x their size, an index."""
    root = tmp_path_factory.mktemp("repos")
    repo = root / "lab" / "scaled-model"
    repo.mkdir(parents=True)
    (repo / "config.json").write_text('{"model_type": "mistral"}')
    manifest = {
        "gated": "auto",
        "files": [
            {"path": "config.json"},
            {"path": "consolidated.safetensors", "virtual_size": 3_000_000, "real_size": 150_000_000},
            {"path": "model-00001-of-00002.safetensors", "virtual_size": 200_000},
            {"path": "model-00002-of-00002.safetensors", "virtual_size": 100_000},
            {"path": "model.safetensors.index.json", "virtual_size": 2000},
            {"path": "README.md", "virtual_size": 500},
        ],
    }
    (repo / "manifest.json").write_text(json.dumps(manifest))
    tokens = root / "tokens.json"
    tokens.write_text(json.dumps({TOKEN: [REPO]}))
    log = root / "access.log"
    port = free_port()
    # 40 MB/s real per connection: the 3 MB file standing for 150 MB takes 3.75 s.
    process = subprocess.Popen(
        [sys.executable, os.path.join(STANDINS, "hf_hub", "hf_hub_standin.py"), "--root", str(root),
         "--port", str(port), "--tokens", str(tokens), "--log", str(log), "--per-connection", "40000000"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    process.stdout.readline()
    yield "http://127.0.0.1:%d" % port, str(log)
    process.terminate()
    process.wait(timeout=10)


def get(hub, name, method="GET", byte_range=None, token=TOKEN):
    headers = {"Authorization": "Bearer " + token} if token else {}
    if byte_range:
        headers["Range"] = byte_range
    request = urllib.request.Request("%s/%s/resolve/main/%s" % (hub[0], REPO, name), headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_ranges_as_the_cdn_answers_them(hub):
    status, headers, whole = get(hub, "model-00001-of-00002.safetensors")
    assert status == 200 and len(whole) == 200_000 and headers["Accept-Ranges"] == "bytes"
    status, headers, part = get(hub, "model-00001-of-00002.safetensors", byte_range="bytes=1000-1999")
    assert (status, part, headers["Content-Range"]) == (206, whole[1000:2000], "bytes 1000-1999/200000")
    assert get(hub, "model-00001-of-00002.safetensors", byte_range="bytes=199000-")[2] == whole[199000:]
    assert get(hub, "model-00001-of-00002.safetensors", byte_range="bytes=-10")[2] == whole[-10:]
    status, headers, _body = get(hub, "model-00001-of-00002.safetensors", byte_range="bytes=300000-")
    assert status == 416 and headers["Content-Range"] == "bytes */200000"


def test_head_carries_what_huggingface_hub_reads(hub):
    status, headers, body = get(hub, "model-00002-of-00002.safetensors", method="HEAD")
    _status, _headers, content = get(hub, "model-00002-of-00002.safetensors")
    assert status == 200 and body == b""
    assert headers["X-Linked-Size"] == "100000" and len(headers["X-Repo-Commit"]) == 40
    # The LFS ETag is the content's SHA-256, as on the Hub.
    assert headers["X-Linked-Etag"] == headers["ETag"] == '"%s"' % hashlib.sha256(content).hexdigest()


def test_generated_content_is_deterministic_and_what_its_name_says(hub):
    first = get(hub, "model-00002-of-00002.safetensors")[2]
    assert first == get(hub, "model-00002-of-00002.safetensors")[2]
    length = int.from_bytes(first[:8], "little")
    header = json.loads(first[8 : 8 + length])
    start, end = header["weight"]["data_offsets"]
    assert 8 + length + end == len(first) and start == 0
    # Random bytes: nothing for a registry or a disk to compress away.
    import zlib

    assert len(zlib.compress(first[8 + length :])) > 0.99 * (len(first) - 8 - length)
    index = json.loads(get(hub, "model.safetensors.index.json")[2])
    assert sorted(set(index["weight_map"].values())) == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    assert len(get(hub, "README.md")[2]) == 500
    assert get(hub, "config.json")[2] == b'{"model_type": "mistral"}'


def test_the_gate_holds_for_generated_files(hub):
    status, headers, _body = get(hub, "consolidated.safetensors", token=None)
    assert (status, headers["X-Error-Code"]) == (401, "GatedRepo")


def test_a_scaled_file_takes_its_real_time_and_the_log_says_what_was_sent(hub):
    started = time.monotonic()
    status, _headers, body = get(hub, "consolidated.safetensors", byte_range="bytes=0-999999")
    elapsed = time.monotonic() - started
    # 1 MB served stands for 50 MB real: at 40 MB/s that is 1.25 s (less the first burst).
    assert status == 206 and len(body) == 1_000_000
    assert 0.9 < elapsed < 15, elapsed  # never faster than its real time; a loaded machine may be slower
    # The server writes its record once the response is out: give it a moment on a loaded machine.
    deadline, records = time.monotonic() + 10, []
    while time.monotonic() < deadline:
        with open(hub[1]) as handle:
            records = [json.loads(line.split(" ", 4)[4]) for line in handle]
        if any(record.get("range") == "bytes=0-999999" for record in records):
            break
        time.sleep(0.1)
    last = [record for record in records if record.get("range") == "bytes=0-999999"][-1]
    assert last["bytes"] == 1_000_000 and last["client"] == "127.0.0.1"
    assert last["time"] > started - 60
