"""The vllm_settings filter: sizing wired to facts, overrides, and arguments vLLM 0.33.0 accepts."""

import pytest
from ansible.errors import AnsibleFilterError
from conftest import MISTRAL_CONFIG, MISTRAL_WEIGHTS_BYTES, RTX4000_ADA_MIB, vllm_flags

from ansible_collections.oneclick.ai_sandbox.plugins.filter.vllm_settings import FilterModule

MODEL = {
    "id": "mistralai/Mistral-7B-Instruct-v0.3",
    "sha": "e0bc86c23ce5aae1db576c8cca6f06f1f73af2db",
    "config": MISTRAL_CONFIG,
    "weights_bytes": MISTRAL_WEIGHTS_BYTES,
}
ONE_GPU = {"count": 1, "memory_mib": [RTX4000_ADA_MIB], "names": ["NVIDIA RTX 4000 Ada Generation"]}
NO_GPU = {"count": 0, "memory_mib": [], "names": []}


def settings(model=None, **kwargs):
    return FilterModule().filters()["vllm_settings"](MODEL if model is None else model, **kwargs)


def flags_of(args):
    return [arg for arg in args if arg.startswith("--")]


def test_arguments_use_only_flags_vllm_accepts():
    for gpu in (ONE_GPU, NO_GPU, {"count": 4, "memory_mib": [RTX4000_ADA_MIB] * 4, "names": ["x"] * 4}):
        args = settings(gpu=gpu, served_model_name="mistral")["args"]
        unknown = set(flags_of(args)) - vllm_flags()
        assert not unknown, unknown


def test_one_gpu_arguments():
    result = settings(gpu=ONE_GPU)
    args = result["args"]
    assert args[0] == "mistralai/Mistral-7B-Instruct-v0.3"
    assert args[args.index("--revision") + 1] == MODEL["sha"]
    assert args[args.index("--max-num-seqs") + 1] == "1"
    assert args[args.index("--max-model-len") + 1] == str(result["max_model_len"])
    assert result["max_model_len"] < 32768
    assert "--tensor-parallel-size" not in args
    assert args[args.index("--served-model-name") + 1] == MODEL["id"]


def test_four_gpus_run_tensor_parallel():
    gpu = {"count": 4, "memory_mib": [RTX4000_ADA_MIB] * 4, "names": ["NVIDIA RTX 4000 Ada Generation"] * 4}
    args = settings(gpu=gpu)["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "4"
    assert args[args.index("--max-model-len") + 1] == "32768"


def test_overrides_win():
    result = settings(gpu=ONE_GPU, max_model_len=8192, tensor_parallel_size=1, max_num_seqs=4)
    args = result["args"]
    assert args[args.index("--max-model-len") + 1] == "8192"
    assert args[args.index("--max-num-seqs") + 1] == "4"
    assert result["max_model_len_derived"] > 8192


def test_without_gpu_nothing_is_sized():
    result = settings(gpu=NO_GPU)
    assert result["sizing"] is None
    assert result["max_model_len"] == 4096


def test_too_big_for_the_plan_is_a_filter_error():
    big = dict(MODEL, weights_bytes=138 * 10**9)
    with pytest.raises(AnsibleFilterError, match=r"needs about .* this plan has 20 GiB"):
        settings(big, gpu=ONE_GPU)


def test_model_info_without_id_is_refused():
    with pytest.raises(AnsibleFilterError, match="no 'id'"):
        settings({}, gpu=NO_GPU)
