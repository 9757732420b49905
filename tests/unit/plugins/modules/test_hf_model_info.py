"""hf_model_info against the stand-in Hugging Face Hub over HTTP: each refusal has its own reason."""

import os
import socket

import pytest
from conftest import MISTRAL_WEIGHTS_BYTES, run_module

MISTRAL = "mistralai/Mistral-7B-Instruct-v0.3"
TINY = "oneclick-testbed/tiny-chat"


def info(endpoint, cache, **args):
    args.setdefault("cache_dir", str(cache))
    args["endpoint"] = endpoint
    return run_module("hf_model_info", args)


def test_open_model_is_described(hf_hub, tmp_path):
    result = info(hf_hub[0], tmp_path, model=TINY)
    assert not result.get("failed"), result
    model = result["model"]
    assert model["id"] == TINY
    assert len(model["sha"]) == 40
    assert model["config"]["num_hidden_layers"] == 2
    assert model["weight_files"] == ["model.safetensors"]
    assert model["support_files"] == ["config.json", "generation_config.json", "tokenizer_config.json"]
    assert model["weights_bytes"] == 2097152
    assert model["cached"] is False
    assert model["missing_bytes"] == model["download_bytes"]


def test_gated_mistral_model_with_granted_token_is_fetched_in_the_mistral_format(hf_hub, tmp_path):
    result = info(hf_hub[0], tmp_path, model=MISTRAL, token="hf_testbed_granted", disk_margin_gb=0)
    if result.get("failed"):
        # The test machine's disk may be smaller than 15 GB free: that refusal is the right one then.
        assert result["reason_code"] == "disk_too_small", result
        return
    model = result["model"]
    assert model["gated"] == "auto"
    # vLLM's own choice with --load-format auto: one consolidated file, not the three shards beside it.
    assert (model["format"], model["weight_files"]) == ("mistral", ["consolidated.safetensors"])
    assert model["support_files"] == ["params.json", "tokenizer.model.v3"]
    assert model["engine_args"] == ["--load-format", "mistral", "--config-format", "mistral",
                                    "--tokenizer-mode", "mistral"]  # fmt: skip
    assert model["weights_bytes"] == MISTRAL_WEIGHTS_BYTES
    assert model["config"]["num_key_value_heads"] == 8


@pytest.mark.parametrize(
    ("args", "reason", "words"),
    [
        ({"model": MISTRAL}, "gated_no_token", "gated repository and no Hugging Face token"),
        ({"model": MISTRAL, "token": "hf_testbed_not_granted"}, "gated_no_access", "has no access to the gated"),
        ({"model": MISTRAL, "token": "hf_wrong"}, "token_refused", "token was refused"),
        ({"model": "nobody/no-such-model"}, "not_found", "does not exist"),
        ({"model": "nobody/no-such-model", "token": "hf_testbed_granted"}, "not_found", "does not exist"),
        ({"model": TINY, "revision": "v9"}, "not_found", "no such revision"),
        ({"model": "not a model id"}, "bad_model_id", "expected <owner>/<name>"),
        ({"model": "a--b/c"}, "bad_model_id", "'a--b/c' is not a Hugging Face model id"),
        ({"model": TINY, "disk_margin_gb": 10**9}, "disk_too_small", "disk too small for the model"),
    ],
)
def test_refusals(hf_hub, tmp_path, args, reason, words):
    result = info(hf_hub[0], tmp_path, **args)
    assert result.get("failed"), result
    assert result["reason_code"] == reason
    assert words in result["msg"]


def test_unreachable_hub(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    result = info("http://127.0.0.1:%d" % closed, tmp_path, model=TINY, timeout=5)
    assert result["reason_code"] == "hub_unreachable"
    assert "cannot reach the Hugging Face Hub" in result["msg"]


def test_token_never_appears_in_the_result(hf_hub, tmp_path):
    result = info(hf_hub[0], tmp_path, model=MISTRAL, token="hf_testbed_not_granted")
    assert "hf_testbed_not_granted" not in str(result)


def test_cached_model_needs_no_download(hf_hub, tmp_path):
    first = info(hf_hub[0], tmp_path, model=TINY)["model"]
    snapshot = tmp_path / "hub" / "models--oneclick-testbed--tiny-chat" / "snapshots" / first["sha"]
    snapshot.mkdir(parents=True)
    for name in first["weight_files"] + first["support_files"]:
        (snapshot / name).write_text("x")
    again = info(hf_hub[0], tmp_path, model=TINY, disk_margin_gb=10**9)["model"]
    assert again["cached"] is True
    assert again["missing_bytes"] == 0


def test_check_hub_off_only_checks_the_form(tmp_path):
    result = run_module(
        "hf_model_info",
        {"model": TINY, "check_hub": False, "cache_dir": str(tmp_path), "endpoint": "http://127.0.0.1:9"},
    )
    assert not result.get("failed"), result
    assert result["model"]["id"] == TINY
    assert run_module("hf_model_info", {"model": "bad id", "check_hub": False})["reason_code"] == "bad_model_id"


def test_access_log_shows_what_was_asked(hf_hub, tmp_path):
    info(hf_hub[0], tmp_path, model=TINY)
    with open(hf_hub[1]) as handle:
        lines = handle.read().splitlines()
    assert any("/api/models/oneclick-testbed/tiny-chat/revision/main?blobs=true 200" in line for line in lines)
    assert os.path.getsize(hf_hub[1]) > 0
