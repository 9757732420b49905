"""The lab's profiles (tests/e2e/profiles/): every number has a source, and the scaling arithmetic."""

import math
import os
import sys

import pytest
from conftest import COLLECTION_ROOT, STANDINS

sys.path.insert(0, os.path.join(COLLECTION_ROOT, "tests", "e2e"))
import lab_profile


def test_the_default_is_the_fast_profile_and_it_scales_nothing(monkeypatch):
    monkeypatch.delenv("AI_SANDBOX_LAB_PROFILE", raising=False)
    profile = lab_profile.load()
    assert (profile.name, profile.real_scale, profile.scale) == ("fast", False, 1)
    assert profile.model == "oneclick-testbed/tiny-chat" and profile.engine_env() == {}


def test_an_unknown_profile_names_the_known_ones():
    with pytest.raises(lab_profile.ProfileError, match="fast, real-scale"):
        lab_profile.load("nope")


def test_every_real_scale_number_has_a_source():
    profile = lab_profile.load("real-scale")
    assert profile.real_scale and profile.scale == 50
    data = dict(profile.data, engine={"start_fixed_seconds": {"value": 60}, "load_seconds_per_gib": 3.5})
    with pytest.raises(lab_profile.ProfileError, match=r"real-scale\.engine\.start_fixed_seconds has no source"):
        lab_profile.Profile(data)


def test_the_hub_serves_mistral_real_file_list_scaled():
    profile = lab_profile.load("real-scale")
    files = {entry["path"]: entry for entry in profile.hub_files()}
    assert set(files) == {
        ".gitattributes", "README.md", "config.json", "consolidated.safetensors", "generation_config.json",
        "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
        "model.safetensors.index.json", "params.json", "special_tokens_map.json", "tokenizer.json",
        "tokenizer.model", "tokenizer.model.v3", "tokenizer_config.json",
    }  # fmt: skip
    consolidated = files["consolidated.safetensors"]
    assert consolidated["real_size"] == 14496078512 and consolidated["size"] == math.ceil(14496078512 / 50)
    # Small files are served whole: their content matters, their time is a round trip.
    assert files["tokenizer.model.v3"]["size"] == files["tokenizer.model.v3"]["real_size"] == 587404
    assert files["tokenizer.json"]["size"] == math.ceil(1961548 / 50)
    # The committed real files are the sizes the profile lists.
    repo = os.path.join(STANDINS, "hf_hub", "repos", "mistralai", "Mistral-7B-Instruct-v0.3")
    for name in ("config.json", "params.json"):
        assert os.path.getsize(os.path.join(repo, name)) == files[name]["real_size"]


def test_a_transfer_keeps_its_real_time():
    """Served bytes at the charged rate take what the real bytes take at the real rate."""
    profile = lab_profile.load("real-scale")
    rate = profile.rate("hub", "per_connection_mb_s")
    entry = next(f for f in profile.hub_files() if f["path"] == "consolidated.safetensors")
    charge = entry["real_size"] / entry["size"]
    assert entry["size"] * charge / rate == pytest.approx(entry["real_size"] / rate)
    assert entry["real_size"] / rate == pytest.approx(362.4, abs=0.1)  # one stream: six minutes


def test_the_engine_image_is_padded_to_its_scaled_size():
    profile = lab_profile.load("real-scale")
    layers = profile.image_padding("vllm", 90_000_000)
    assert sum(layers) == math.ceil(12_640_000_000 / 50) - 90_000_000
    assert layers == sorted(layers, reverse=True) and len(layers) == 7
    assert profile.image_padding("vllm", 10**9) == []


def test_driver_packages_are_named_for_the_running_kernel():
    profile = lab_profile.load("real-scale")
    names = [p["name"] for p in profile.packages("precompiled", "6.8.0-49-generic")]
    assert names[:3] == [
        "linux-modules-nvidia-580-server-open-6.8.0-49-generic",
        "nvidia-headless-no-dkms-580-server-open",
        "nvidia-kernel-common-580-server",
    ]
    assert "nvidia-utils-580-server" in names
    dkms = [p["name"] for p in profile.packages("dkms", "6.8.0-49-generic")]
    for name in ("nvidia-driver-pinning-580", "nvidia-kernel-open-dkms", "nvidia-driver-cuda", "nvidia-persistenced",
                 "dkms", "linux-headers-6.8.0-49-generic"):  # fmt: skip
        assert name in dkms
    assert next(p["name"] for p in profile.packages("toolkit", "x")) == "nvidia-container-toolkit"


def test_the_engine_gets_the_profile_numbers():
    env = lab_profile.load("real-scale").engine_env()
    assert env == {"STANDIN_SIZE_SCALE": "50", "STANDIN_ENGINE_FIXED_SECONDS": "60",
                   "STANDIN_LOAD_SECONDS_PER_GIB": "3.5"}  # fmt: skip
