"""sandbox_phases and sandbox_failure: the time to ready and the failure reasons of the site playbook."""

import os

import pytest
import yaml

from ansible_collections.oneclick.ai_sandbox.plugins.filter.sandbox_failure import sandbox_failure
from ansible_collections.oneclick.ai_sandbox.plugins.filter.sandbox_phases import sandbox_phases

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
T0 = 1795000000.0  # 2026-11-18T...


def reasons():
    with open(os.path.join(ROOT, "playbooks", "vars", "site_failures.yml")) as handle:
        return yaml.safe_load(handle)["ai_sandbox_failure_reasons"]


def test_phases_split_engine_and_ui_by_the_roles_timings():
    marks = [
        {"phase": "bootstrap", "at": T0},
        {"phase": "ansible-pull", "at": T0 + 40},
        {"phase": "driver", "at": T0 + 45},
        {"phase": "docker", "at": T0 + 47},
        {"phase": "engine", "at": T0 + 110},
        {"phase": "ui", "at": T0 + 200},
        {"phase": "end", "at": T0 + 300},
    ]
    engine = {"seconds": {"preflight": 1, "image_pull": 20, "model_download": 30, "engine_start": 35, "first_token": 4}}
    ui = {"seconds": {"image_pull": "60.5", "ui_ready": "39.5"}}
    phases = sandbox_phases(marks, engine=engine, ui=ui)
    assert [(p["phase"], p["seconds"]) for p in phases] == [
        ("bootstrap", 40.0),
        ("ansible-pull", 5.0),
        ("driver", 2.0),
        ("docker", 63.0),
        ("model check", 1.0),
        ("image pull (engine)", 20.0),
        ("model download", 30.0),
        ("engine start", 35.0),
        ("first token", 4.0),
        ("image pull (UI)", 60.5),
        ("UI ready", 39.5),
    ]
    assert phases[0]["started_at"].endswith("Z")
    assert (
        phases[6]["started_at"]
        == sandbox_phases([{"phase": "x", "at": T0 + 131}, {"phase": "end", "at": T0 + 132}])[0]["started_at"]
    )


def test_phases_stay_whole_without_timings_and_the_last_mark_only_ends():
    marks = [{"phase": "engine", "at": T0}, {"phase": "end", "at": T0 + 12.34}]
    assert [(p["phase"], p["seconds"]) for p in sandbox_phases(marks, engine={"seconds": {"preflight": 1}})] == [
        ("engine", 12.3)
    ]
    assert sandbox_phases([]) == []


@pytest.mark.parametrize(
    ("result", "task", "phase", "code", "shown_phase", "reason"),
    [
        (
            {"msg": "mistralai/Mistral-7B-Instruct-v0.3 is gated", "reason": "gated_no_token"},
            "Check the model, the token and the disk with the Hugging Face Hub",
            "engine",
            "gated_no_token",
            "model download",
            "model download refused: gated repository and no Hugging Face token",
        ),
        (
            {"msg": "needs 15.2 GB", "reason": "disk_too_small"},
            "Check the model",
            "engine",
            "disk_too_small",
            "model download",
            "disk too small for the model",
        ),
        (
            {"msg": "port 8000 already in use (python3): the engine cannot publish it."},
            "Fail when port 8000 is taken",
            "engine",
            "port_in_use",
            "engine start",
            "port 8000 already in use (python3)",
        ),
        (
            {"msg": "port 3000 already in use (another program): the UI cannot publish it."},
            "Fail when port 3000 is taken",
            "ui",
            "port_in_use",
            "UI ready",
            "port 3000 already in use (another program)",
        ),
        (
            {"msg": "NVIDIA driver did not load without a reboot (FATAL: Module nvidia not found). Reboot ..."},
            "Fail when a reboot is needed but not allowed",
            "driver",
            "driver_needs_reboot",
            "driver",
            "NVIDIA driver did not load (it needs a reboot)",
        ),
        (
            {"msg": "NVIDIA driver is installed but nvidia-smi does not answer for 1 GPU(s)"},
            "Check that nvidia-smi answers for the expected GPUs",
            "driver",
            "driver_not_loaded",
            "driver",
            "NVIDIA driver did not load",
        ),
        (
            {"msg": "Error pulling image"},
            "Pull the engine image vllm/vllm-openai:v0.33.0",
            "engine",
            "step_failed",
            "image pull (engine)",
            "a step failed: Pull the engine image vllm/vllm-openai:v0.33.0",
        ),
        (
            {"msg": "vLLM did not answer within 1800 s (timeout)."},
            "Fail with the engine's own words",
            "engine",
            "engine_not_ready",
            "engine start",
            "vLLM did not answer with the model",
        ),
        ({"msg": "E: Unable to locate package docker.io"}, "Install Docker", "docker", "step_failed", "docker", None),
    ],
)
def test_failures_in_plain_words(result, task, phase, code, shown_phase, reason):
    failure = sandbox_failure(result, task=task, phase=phase, reasons=reasons())
    assert failure["reason_code"] == code
    assert failure["phase"] == shown_phase
    assert failure["reason"] == (reason or "a step failed: %s" % task)
    assert failure["todo"] and failure["details"] == " ".join(result["msg"].split())


def test_every_reason_says_what_to_do():
    table = reasons()
    assert {"gated_no_token", "disk_too_small", "port_in_use", "driver_not_loaded", "step_failed"} <= set(table)
    assert all(entry["reason"] and entry["todo"] for entry in table.values())


def test_a_result_that_is_not_a_dict_still_explains():
    failure = sandbox_failure("boom", task="", phase="docker", reasons={})
    assert failure["reason"] == "a step failed: unnamed task" and failure["details"] == "boom"
