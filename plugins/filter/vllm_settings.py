# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vllm_settings filter; its documentation is in vllm_settings.yml beside this file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import vllm_sizing

# The container always listens on 8000; the host port is mapped in the compose file.
CONTAINER_PORT = 8000
# Without a GPU (a test bed, a CPU-only dry run) there is nothing to size: cap the context here.
NO_GPU_MAX_MODEL_LEN = 4096


def vllm_settings(
    model_info,
    gpu=None,
    served_model_name=None,
    max_num_seqs=1,
    max_model_len=0,
    tensor_parallel_size=0,
    gpu_memory_utilization=vllm_sizing.DEFAULT_GPU_MEMORY_UTILIZATION,
    dtype="auto",
    extra_args=None,
):
    """Sizing and the `vllm serve` arguments for a model (hf_model_info's ``model``) on these GPUs."""
    model_info = model_info or {}
    gpu = gpu or {}
    model = model_info.get("id")
    if not model:
        raise AnsibleFilterError("vllm_settings: model_info has no 'id' (pass hf_model_info's 'model')")
    count = int(gpu.get("count") or 0)
    sizing = None
    try:
        if count and model_info.get("config"):
            # Size for the smallest card: tensor parallelism splits the model evenly.
            known = [m for m in gpu.get("memory_mib") or [] if m]
            memory = min(known) if known else 0
            sizing = vllm_sizing.size(
                model_info["config"],
                model_info.get("weights_bytes") or 0,
                count,
                memory,
                gpu_name=(gpu.get("names") or ["GPU"])[0],
                gpu_memory_utilization=float(gpu_memory_utilization),
                model=model,
            )
    except vllm_sizing.SizingError as exc:
        raise AnsibleFilterError(str(exc)) from exc

    if sizing:
        derived_len, derived_tp = sizing["max_model_len"], sizing["tensor_parallel_size"]
    else:
        positions = None
        if model_info.get("config"):
            try:
                positions = vllm_sizing.model_shape(model_info["config"])["max_positions"]
            except vllm_sizing.SizingError:
                positions = None
        derived_len = min(positions or NO_GPU_MAX_MODEL_LEN, NO_GPU_MAX_MODEL_LEN)
        derived_tp = 1
    final_len = int(max_model_len) or derived_len
    final_tp = int(tensor_parallel_size) or derived_tp

    args = [model]
    if model_info.get("sha"):
        args += ["--revision", model_info["sha"]]
    args += [
        "--served-model-name", served_model_name or model,
        "--host", "0.0.0.0",
        "--port", str(CONTAINER_PORT),
        "--max-num-seqs", str(int(max_num_seqs)),
        "--max-model-len", str(final_len),
        "--gpu-memory-utilization", "%.2f" % float(gpu_memory_utilization),
        "--dtype", dtype,
    ]  # fmt: skip
    if final_tp > 1:
        args += ["--tensor-parallel-size", str(final_tp)]
    # One format, named: the engine reads exactly what the preflight chose and the download fetched.
    args += [str(arg) for arg in model_info.get("engine_args") or []]
    args += [str(arg) for arg in extra_args or []]
    return {
        "model": model,
        "served_model_name": served_model_name or model,
        "max_model_len": final_len,
        "max_model_len_derived": derived_len,
        "tensor_parallel_size": final_tp,
        "gpu_count": count,
        "sizing": sizing,
        "format": model_info.get("format"),
        "args": args,
    }


class FilterModule(object):
    def filters(self):
        return {"vllm_settings": vllm_settings}
