"""The vLLM stand-in's start-up, where vLLM 0.33 spends time: format choice, online and offline, weights read."""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from conftest import STANDINS

pytest.importorskip("huggingface_hub")

STANDIN = os.path.join(STANDINS, "vllm", "vllm_standin.py")
MISTRAL_LIKE = "lab/mistral-like"
HF_ONLY = "lab/hf-only"
TOKEN = "hf_lab"
MISTRAL_FLAGS = ["--load-format", "mistral", "--config-format", "mistral", "--tokenizer-mode", "mistral"]


def standin_module():
    spec = importlib.util.spec_from_file_location("vllm_standin", STANDIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A Hub with a repository in both formats (as Mistral-7B-Instruct-v0.3) and one in HF format only."""
    root = tmp_path_factory.mktemp("repos")
    both = root / "lab" / "mistral-like"
    both.mkdir(parents=True)
    (both / "config.json").write_text(json.dumps({"model_type": "mistral", "max_position_embeddings": 32768}))
    (both / "params.json").write_text(json.dumps({"dim": 64, "n_layers": 2, "vocab_size": 32768}))
    (both / "manifest.json").write_text(
        json.dumps(
            {
                "gated": "auto",
                "files": [
                    {"path": "config.json"},
                    {"path": "params.json"},
                    {"path": "consolidated.safetensors", "virtual_size": 300_000},
                    {"path": "model-00001-of-00002.safetensors", "virtual_size": 160_000},
                    {"path": "model-00002-of-00002.safetensors", "virtual_size": 140_000},
                    {"path": "model.safetensors.index.json", "virtual_size": 1000},
                    {"path": "generation_config.json", "virtual_size": 116},
                    {"path": "tokenizer.model.v3", "virtual_size": 5000},
                    {"path": "tokenizer_config.json", "virtual_size": 3000},
                ],
            }
        )
    )
    hf_only = root / "lab" / "hf-only"
    hf_only.mkdir(parents=True)
    (hf_only / "config.json").write_text(json.dumps({"model_type": "llama", "max_position_embeddings": 4096}))
    (hf_only / "manifest.json").write_text(
        json.dumps(
            {
                "files": [
                    {"path": "config.json"},
                    {"path": "model.safetensors", "virtual_size": 100_000},
                    {"path": "tokenizer_config.json", "virtual_size": 500},
                ]
            }
        )
    )
    tokens = root / "tokens.json"
    tokens.write_text(json.dumps({TOKEN: [MISTRAL_LIKE]}))
    log = root / "access.log"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, os.path.join(STANDINS, "hf_hub", "hf_hub_standin.py"), "--root", str(root),
         "--port", str(port), "--tokens", str(tokens), "--log", str(log)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    process.stdout.readline()
    yield {"url": "http://127.0.0.1:%d" % port, "log": str(log)}
    process.terminate()
    process.wait(timeout=10)


def hub_requests(hub):
    if not os.path.exists(hub["log"]):
        return []
    with open(hub["log"]) as handle:
        return [line.split(" ", 4) for line in handle]


def serve(hub, home, model, *flags, offline=False, env=None, timeout=60):
    """Start the stand-in; return (exit code or None when it listens, its output, seconds to listen)."""
    environment = dict(os.environ, HF_HOME=str(home), HF_ENDPOINT=hub["url"], HF_TOKEN=TOKEN,
                       HF_HUB_DISABLE_TELEMETRY="1", STANDIN_STARTUP_SECONDS="0")  # fmt: skip
    environment.pop("HF_HUB_OFFLINE", None)
    if offline:
        environment["HF_HUB_OFFLINE"] = "1"
    environment.update(env or {})
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, STANDIN, "serve", model, "--host", "127.0.0.1", "--port", str(free_port()), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
    )  # fmt: skip
    output = []
    for line in process.stdout:
        output.append(line)
        if "Starting vLLM API server" in line:
            elapsed = time.monotonic() - started
            process.terminate()
            process.wait(timeout=10)
            return None, "".join(output), elapsed
        if time.monotonic() - started > timeout:
            break
    process.wait(timeout=10)
    return process.returncode, "".join(output), time.monotonic() - started


def snapshot(home, model):
    base = os.path.join(str(home), "hub", "models--" + model.replace("/", "--"), "snapshots")
    (sha,) = os.listdir(base)
    return os.path.join(base, sha), sha


@pytest.mark.parametrize(
    ("options", "listing", "cached", "expected"),
    [
        # Mistral-7B-Instruct-v0.3 online: vLLM's "auto" picks the Mistral format for all three.
        (
            {},
            [
                "config.json",
                "params.json",
                "consolidated.safetensors",
                "model-00001-of-00003.safetensors",
                "tokenizer.model.v3",
            ],
            [],
            ("mistral", "mistral", "mistral"),
        ),
        # No params.json: the config stays Hugging Face's, the weights are still the consolidated ones.
        ({}, ["config.json", "consolidated.safetensors"], [], ("hf", "mistral", "hf")),
        # Offline, vLLM lists nothing: "auto" means the Hugging Face format (config.json cached).
        ({}, [], ["config.json", "params.json"], ("hf", "hf", "hf")),
        # Explicit flags win.
        (
            {"--load-format": ["mistral"], "--config-format": ["mistral"], "--tokenizer-mode": ["mistral"]},
            [],
            [],
            ("mistral", "mistral", "mistral"),
        ),
        (
            {"--load-format": ["safetensors"], "--config-format": ["hf"]},
            ["consolidated.safetensors", "params.json"],
            [],
            ("hf", "safetensors", "hf"),
        ),
        ({}, ["config.json", "tekken.json"], [], ("hf", "hf", "mistral")),
    ],
)
def test_format_choice_follows_vllm(options, listing, cached, expected):
    module = standin_module()

    def exists(name):
        return name in listing or name in cached

    assert module.choose_formats("m/x", options, listing, exists) == expected


def test_no_config_at_all_is_vllms_error():
    module = standin_module()
    with pytest.raises(module.StartError, match="Invalid repository ID or local directory specified: 'm/x'"):
        module.choose_formats("m/x", {}, [], lambda name: False)


def test_engine_time_is_fixed_plus_per_real_gib():
    module = standin_module()
    # 290 MB served at scale 50 stand for 13.5 GiB: 60 s + 3.5 s/GiB.
    seconds = module.engine_start_seconds(14496078512 / 50, 50, 60, 3.5)
    assert seconds == pytest.approx(60 + 3.5 * 14496078512 / 1024**3)


def test_online_auto_lists_the_repo_downloads_the_mistral_format_and_reads_it(hub, tmp_path):
    before = len(hub_requests(hub))
    timing = {"STANDIN_ENGINE_FIXED_SECONDS": "1.5", "STANDIN_LOAD_SECONDS_PER_GIB": "0", "STANDIN_SIZE_SCALE": "50"}
    code, output, elapsed = serve(hub, tmp_path, MISTRAL_LIKE, env=timing)
    assert code is None, output
    assert "Formats: config mistral, load mistral, tokenizer mistral" in output
    assert "Read 300000 bytes of weights from consolidated.safetensors" in output
    assert elapsed >= 1.5
    paths = [request[2] for request in hub_requests(hub)[before:]]
    assert any("/api/models/%s/tree/" % MISTRAL_LIKE in path for path in paths), paths
    folder, _sha = snapshot(tmp_path, MISTRAL_LIKE)
    assert sorted(os.listdir(folder)) == ["consolidated.safetensors", "generation_config.json", "params.json",
                                          "tokenizer.model.v3"]  # fmt: skip


def test_explicit_hf_flags_load_the_shards_the_index_names(hub, tmp_path):
    code, output, _elapsed = serve(hub, tmp_path, MISTRAL_LIKE, "--load-format", "safetensors", "--config-format", "hf",
                                   "--tokenizer-mode", "hf")  # fmt: skip
    assert code is None, output
    assert "Formats: config hf, load safetensors, tokenizer hf" in output
    # vLLM's pattern *.safetensors downloads the consolidated file too; the index keeps it out of the load.
    assert ("Read 300000 bytes of weights from model-00001-of-00002.safetensors, "
            "model-00002-of-00002.safetensors") in output  # fmt: skip
    folder, _sha = snapshot(tmp_path, MISTRAL_LIKE)
    assert "consolidated.safetensors" in os.listdir(folder)


def test_offline_with_the_fetched_files_asks_the_hub_nothing(hub, tmp_path):
    code, output, _elapsed = serve(hub, tmp_path, MISTRAL_LIKE, *MISTRAL_FLAGS)
    assert code is None, output
    _folder, sha = snapshot(tmp_path, MISTRAL_LIKE)
    before = len(hub_requests(hub))
    code, output, _elapsed = serve(hub, tmp_path, MISTRAL_LIKE, "--revision", sha, *MISTRAL_FLAGS, offline=True)
    assert code is None, output
    assert "Read 300000 bytes of weights from consolidated.safetensors" in output
    assert hub_requests(hub)[before:] == []


def test_offline_auto_cannot_see_the_mistral_format(hub, tmp_path):
    """Offline, vLLM's listing is empty: "auto" looks for config.json, which the Mistral download lacks."""
    serve(hub, tmp_path, MISTRAL_LIKE, *MISTRAL_FLAGS)
    _folder, sha = snapshot(tmp_path, MISTRAL_LIKE)
    code, output, _elapsed = serve(hub, tmp_path, MISTRAL_LIKE, "--revision", sha, offline=True)
    assert code == 1 and "Invalid repository ID or local directory specified" in output, output


def test_offline_with_a_missing_weight_file_fails_like_vllm(hub, tmp_path):
    serve(hub, tmp_path, MISTRAL_LIKE, *MISTRAL_FLAGS)
    folder, sha = snapshot(tmp_path, MISTRAL_LIKE)
    os.remove(os.path.join(folder, "consolidated.safetensors"))
    before = len(hub_requests(hub))
    code, output, _elapsed = serve(hub, tmp_path, MISTRAL_LIKE, "--revision", sha, *MISTRAL_FLAGS, offline=True)
    # vLLM's snapshot_download(local_files_only=True): huggingface_hub 2.4 names the missing file.
    assert code == 1 and "IncompleteSnapshotError" in output and "(consolidated.safetensors)" in output, output
    assert hub_requests(hub)[before:] == []
    # Online, the same start downloads what it lacks.
    code, output, _elapsed = serve(hub, tmp_path, MISTRAL_LIKE, "--revision", sha, *MISTRAL_FLAGS)
    assert code is None and os.path.exists(os.path.join(folder, "consolidated.safetensors")), output


def test_offline_with_nothing_cached_fails_without_asking(hub, tmp_path):
    code, output, _elapsed = serve(hub, tmp_path, HF_ONLY, *MISTRAL_FLAGS, offline=True)
    assert code == 1 and "Failed to load mistral 'params.json' config" in output, output


def test_a_broken_safetensors_file_is_refused(hub, tmp_path):
    serve(hub, tmp_path, HF_ONLY)
    folder, _sha = snapshot(tmp_path, HF_ONLY)
    target = os.path.realpath(os.path.join(folder, "model.safetensors"))
    os.remove(os.path.join(folder, "model.safetensors"))
    shutil.copyfile(target, os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "model.safetensors"), "r+b") as handle:
        handle.write(b"\xff" * 8)
    code, output, _elapsed = serve(hub, tmp_path, HF_ONLY, offline=True)
    assert code == 1 and "SafetensorError" in output, output
