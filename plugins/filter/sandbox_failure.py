# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sandbox_failure filter; its documentation is in sandbox_failure.yml beside this file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# hf_model_info's refusals, which all stop the model from being downloaded.
MODEL_REASONS = {
    "bad_model_id",
    "gated_no_token",
    "gated_no_access",
    "token_refused",
    "access_refused",
    "not_found",
    "hub_unreachable",
    "hub_error",
    "bad_config",
    "disk_too_small",
    "download_failed",
}
PORT = re.compile(r"^port \d+ already in use( \([^)]*\))?")


def _code(result, phase, reasons):
    message = str(result.get("msg") or "")
    if result.get("reason") in reasons:
        return result["reason"]
    if PORT.match(message):
        return "port_in_use"
    if "NVIDIA driver did not load without a reboot" in message:
        return "driver_needs_reboot"
    if phase == "driver" and re.search(r"NVIDIA driver|nvidia-smi", message):
        return "driver_not_loaded"
    if message.startswith("model download failed"):
        return "download_failed"
    if message.startswith("vLLM did not answer"):
        return "engine_not_ready"
    if message.startswith("Open WebUI is not ready"):
        return "ui_not_ready"
    return "step_failed"


def _phase(phase, code, task):
    image = re.search(r"\bimage\b", task or "", re.IGNORECASE) is not None
    if phase == "engine":
        if code in MODEL_REASONS:
            return "model download"
        return "image pull (engine)" if image and code == "step_failed" else "engine start"
    if phase == "ui":
        return "image pull (UI)" if image and code == "step_failed" else "UI ready"
    return phase


def sandbox_failure(result, task="", phase="", reasons=None):
    """Why a sandbox setup failed, in plain words: the phase, a reason code, the reason, what to do."""
    result = result if isinstance(result, dict) else {"msg": str(result)}
    reasons = reasons or {}
    code = _code(result, phase, reasons)
    entry = reasons.get(code) or reasons.get("step_failed") or {"reason": "a step failed: <task>", "todo": ""}
    message = " ".join(str(result.get("msg") or "no message").split())
    reason = str(entry.get("reason", "")).replace("<task>", task or "unnamed task")
    if code == "port_in_use":
        reason = PORT.match(message).group(0)
    return {
        "phase": _phase(phase, code, task),
        "reason_code": code,
        "reason": reason,
        "todo": str(entry.get("todo", "")),
        "details": message[:600],
        "task": task or "",
    }


class FilterModule(object):
    def filters(self):
        return {"sandbox_failure": sandbox_failure}
