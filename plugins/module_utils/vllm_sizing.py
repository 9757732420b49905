# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Size a vLLM deployment for the GPUs it gets: tensor parallelism and the longest context that fits.

vLLM refuses to start when the context length (``--max-model-len``) needs more KV cache than is left
after the weights ("max seq len ... is larger than the maximum number of tokens that can be stored
in KV cache"). Mistral-7B at its native 32768 tokens is such a case on one 20 GB RTX 4000 Ada. This
module computes, from the model's config.json and weight size, the largest context that fits, or
refuses with what the model needs and what the plan has.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

GIB = 1024**3

# vLLM serves float32 checkpoints in float16 by default (--dtype auto); 8-bit KV only when asked.
DTYPE_BYTES = {"float16": 2, "half": 2, "bfloat16": 2, "float32": 2, "float": 2, "fp8": 1, "int8": 1}

# Per GPU, beyond weights and KV cache: CUDA context, activation peak of the profile run and CUDA
# graphs. vLLM measures this at start-up; 2 GiB covers 7B-class models at --max-num-seqs 1 with room.
DEFAULT_OVERHEAD_GIB = 2.0
DEFAULT_GPU_MEMORY_UTILIZATION = 0.90
# A sandbox with less context than this is not worth starting.
MIN_CONTEXT_TOKENS = 2048


class SizingError(ValueError):
    """The model cannot be served on these GPUs; the message says what it needs and what to do."""


def model_shape(config):
    """The numbers that decide memory use, from a Hugging Face config.json (dict)."""
    text = config.get("text_config") or {}
    merged = dict(config)
    merged.update(text)
    try:
        layers = int(merged["num_hidden_layers"])
        heads = int(merged["num_attention_heads"])
        hidden = int(merged["hidden_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SizingError(
            "config.json lacks %s: cannot size this model; set vllm_service_max_model_len and "
            "vllm_service_tensor_parallel_size yourself" % exc
        ) from None
    kv_heads = int(merged.get("num_key_value_heads") or heads)
    head_dim = int(merged.get("head_dim") or hidden // heads)
    dtype = str(merged.get("torch_dtype") or merged.get("dtype") or "float16")
    max_positions = merged.get("max_position_embeddings") or merged.get("max_sequence_length")
    return {
        "layers": layers,
        "attention_heads": heads,
        "kv_heads": kv_heads,
        "head_dim": head_dim,
        "dtype": dtype,
        "max_positions": int(max_positions) if max_positions else None,
    }


def choose_tensor_parallel(gpu_count, attention_heads, kv_heads):
    """The largest GPU count up to gpu_count that vLLM can split this model's heads over."""
    for size in range(max(1, gpu_count), 0, -1):
        heads_split = attention_heads % size == 0
        kv_split = kv_heads % size == 0 if kv_heads >= size else size % kv_heads == 0
        if heads_split and kv_split:
            return size
    return 1


def kv_bytes_per_token(shape, tensor_parallel_size, kv_cache_dtype="auto"):
    """KV cache bytes one token costs on each GPU (keys and values, every layer)."""
    dtype = shape["dtype"] if kv_cache_dtype in (None, "", "auto") else kv_cache_dtype
    width = DTYPE_BYTES.get(dtype.split("_")[0], 2)
    kv_heads_per_gpu = max(1, shape["kv_heads"] // tensor_parallel_size)
    return 2 * shape["layers"] * kv_heads_per_gpu * shape["head_dim"] * width


def _round_down(tokens):
    step = 1024 if tokens >= 8192 else 256
    return tokens // step * step


def size(
    config,
    weights_bytes,
    gpu_count,
    gpu_memory_mib,
    gpu_name="GPU",
    gpu_memory_utilization=DEFAULT_GPU_MEMORY_UTILIZATION,
    overhead_gib=DEFAULT_OVERHEAD_GIB,
    kv_cache_dtype="auto",
    model="the model",
):
    """Tensor-parallel size and the longest context that fits, for ``gpu_count`` GPUs of ``gpu_memory_mib``.

    Returns a dict with ``tensor_parallel_size``, ``max_model_len``, ``model_max_len`` and the
    figures behind them (GiB). Raises SizingError when the weights, the overhead and a minimal
    context do not fit.
    """
    if gpu_count < 1 or not gpu_memory_mib:
        raise SizingError("no GPU memory to size for (gpu_count=%r, gpu_memory_mib=%r)" % (gpu_count, gpu_memory_mib))
    if not 0.1 <= gpu_memory_utilization <= 1.0:
        raise SizingError("vllm_service_gpu_memory_utilization: %r is not between 0.1 and 1.0" % gpu_memory_utilization)
    shape = model_shape(config)
    tp = choose_tensor_parallel(gpu_count, shape["attention_heads"], shape["kv_heads"])
    per_token = kv_bytes_per_token(shape, tp, kv_cache_dtype)
    usable_per_gpu = gpu_memory_mib * 1024 * 1024 * gpu_memory_utilization
    weights_per_gpu = float(weights_bytes) / tp
    overhead = overhead_gib * GIB
    kv_budget = usable_per_gpu - weights_per_gpu - overhead
    kv_tokens = int(kv_budget // per_token) if kv_budget > 0 else 0
    model_max = shape["max_positions"]

    if kv_tokens < MIN_CONTEXT_TOKENS:
        needed_per_gpu = (weights_per_gpu + overhead + MIN_CONTEXT_TOKENS * per_token) / gpu_memory_utilization
        raise SizingError(
            "%s needs about %.0f GiB of GPU memory (%.1f GiB of weights, plus runtime and room for %d "
            "tokens of context, at %d%% utilisation); this plan has %.0f GiB (%d x %s). Choose a plan "
            "with more GPUs or GPU memory, or a smaller or quantized model."
            % (
                model,
                needed_per_gpu * tp / GIB,
                weights_bytes / float(GIB),
                MIN_CONTEXT_TOKENS,
                round(gpu_memory_utilization * 100),
                gpu_count * gpu_memory_mib / 1024.0,
                gpu_count,
                gpu_name,
            )
        )
    max_model_len = _round_down(kv_tokens)
    if model_max:
        max_model_len = min(max_model_len, model_max)
    return {
        "tensor_parallel_size": tp,
        "max_model_len": max_model_len,
        "model_max_len": model_max,
        "kv_cache_tokens": kv_tokens,
        "kv_bytes_per_token": per_token,
        "weights_gib": round(weights_bytes / float(GIB), 2),
        "kv_budget_gib_per_gpu": round(kv_budget / GIB, 2),
        "gpu_memory_utilization": gpu_memory_utilization,
        "shape": shape,
    }
