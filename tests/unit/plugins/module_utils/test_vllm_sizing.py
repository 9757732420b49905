"""Sizing Mistral-7B-Instruct-v0.3 (its real config.json) for RTX 4000 Ada plans, and refusing what cannot fit."""

import pytest
from conftest import MISTRAL_CONFIG, MISTRAL_WEIGHTS_BYTES, RTX4000_ADA_MIB

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import vllm_sizing

GIB = 1024**3
# A Llama-2-70B-class model: 80 layers, 64 heads, 8 KV heads, about 138 GB of bf16 weights.
LLAMA_70B = {
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "hidden_size": 8192,
    "max_position_embeddings": 4096,
    "torch_dtype": "float16",
}


def mistral_on(gpus):
    return vllm_sizing.size(
        MISTRAL_CONFIG, MISTRAL_WEIGHTS_BYTES, gpus, RTX4000_ADA_MIB, gpu_name="NVIDIA RTX 4000 Ada Generation"
    )


def test_mistral_kv_cache_costs_128_kib_per_token():
    shape = vllm_sizing.model_shape(MISTRAL_CONFIG)
    assert shape == {
        "layers": 32,
        "attention_heads": 32,
        "kv_heads": 8,
        "head_dim": 128,
        "dtype": "bfloat16",
        "max_positions": 32768,
    }
    assert vllm_sizing.kv_bytes_per_token(shape, 1) == 128 * 1024


def test_one_rtx4000_ada_fits_well_under_the_native_context():
    result = mistral_on(1)
    assert result["tensor_parallel_size"] == 1
    # Well under the native 32768, which vLLM refuses on one 20 GB card.
    assert 8192 <= result["max_model_len"] <= 24576
    assert result["max_model_len"] % 1024 == 0
    # It fits: weights + runtime + KV cache for the whole context stay within 90 % of the card.
    used = MISTRAL_WEIGHTS_BYTES + 2 * GIB + result["max_model_len"] * result["kv_bytes_per_token"]
    assert used <= RTX4000_ADA_MIB * 1024 * 1024 * 0.90


@pytest.mark.parametrize("gpus", [2, 4])
def test_more_cards_split_the_model_and_reach_the_native_context(gpus):
    result = mistral_on(gpus)
    assert result["tensor_parallel_size"] == gpus
    assert result["max_model_len"] == 32768
    assert result["model_max_len"] == 32768


def test_three_cards_use_the_largest_split_the_heads_allow():
    assert mistral_on(3)["tensor_parallel_size"] == 2


def test_70b_on_one_card_is_refused_with_what_it_needs():
    with pytest.raises(vllm_sizing.SizingError) as refusal:
        vllm_sizing.size(
            LLAMA_70B,
            138 * 10**9,
            1,
            RTX4000_ADA_MIB,
            gpu_name="NVIDIA RTX 4000 Ada Generation",
            model="meta-llama/Llama-2-70b-chat-hf",
        )
    message = str(refusal.value)
    assert message.startswith("meta-llama/Llama-2-70b-chat-hf needs about 1")
    assert "GiB of GPU memory" in message
    assert "this plan has 20 GiB (1 x NVIDIA RTX 4000 Ada Generation)" in message
    assert "Choose a plan with more GPUs" in message


def test_lower_utilisation_gives_less_context():
    more = vllm_sizing.size(MISTRAL_CONFIG, MISTRAL_WEIGHTS_BYTES, 1, RTX4000_ADA_MIB, gpu_memory_utilization=0.95)
    less = vllm_sizing.size(MISTRAL_CONFIG, MISTRAL_WEIGHTS_BYTES, 1, RTX4000_ADA_MIB, gpu_memory_utilization=0.85)
    assert less["max_model_len"] < mistral_on(1)["max_model_len"] < more["max_model_len"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"hidden_size": 4096}, "config.json lacks"),
    ],
)
def test_unusable_config_is_refused(config, message):
    with pytest.raises(vllm_sizing.SizingError, match=message):
        vllm_sizing.size(config, 1, 1, RTX4000_ADA_MIB)


def test_bad_utilisation_names_the_variable():
    with pytest.raises(vllm_sizing.SizingError, match=r"vllm_service_gpu_memory_utilization: 1\.5"):
        vllm_sizing.size(MISTRAL_CONFIG, MISTRAL_WEIGHTS_BYTES, 1, RTX4000_ADA_MIB, gpu_memory_utilization=1.5)
