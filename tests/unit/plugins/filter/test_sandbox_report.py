"""sandbox_phases and sandbox_failure: the time to ready and the failure report of the site playbook."""

import pytest

from ansible_collections.oneclick.ai_sandbox.plugins.filter import sandbox_failure as failures
from ansible_collections.oneclick.ai_sandbox.plugins.filter.sandbox_phases import sandbox_phases

T0 = 1795000000.0  # 2026-11-18T...


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
    engine = {
        "seconds": {
            "model_check": 1,
            "image_pull_engine": 20,
            "model_download": 30,
            "engine_start": 35,
            "first_token": 4,
        }
    }
    ui = {"seconds": {"image_pull_ui": "60.5", "ui_ready": "39.5"}}
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
    assert [(p["phase"], p["seconds"]) for p in sandbox_phases(marks, engine={"seconds": {"model_check": 1}})] == [
        ("engine", 12.3)
    ]
    assert sandbox_phases([]) == []


@pytest.mark.parametrize(
    ("result", "stage", "code", "shown_phase", "reason"),
    [
        (
            {"msg": "mistralai/Mistral-7B-Instruct-v0.3 is gated", "reason_code": "gated_no_token"},
            "engine",
            "gated_no_token",
            "model download",
            "model download refused: gated repository and no Hugging Face token",
        ),
        (
            {"msg": "...", "reason_code": "port_in_use", "failure_params": {"port": "8000", "program": "python3"},
             "details": ""},
            "engine",
            "port_in_use",
            "engine start",
            "port 8000 already in use (python3)",
        ),
        (
            {"msg": "...", "reason_code": "ui_port_in_use", "failure_params": {"port": "3000"}, "details": ""},
            "ui",
            "ui_port_in_use",
            "UI ready",
            "port 3000 already in use (<program>)",
        ),
        (
            {"msg": "...", "reason_code": "engine_image_unavailable", "failure_params": {"image": "vllm/x:1"},
             "details": "Error pulling image"},
            "engine",
            "engine_image_unavailable",
            "image pull (engine)",
            "the engine image vllm/x:1 could not be pulled or loaded",
        ),
        ({"msg": "E: Unable to locate package docker.io"}, "docker", "step_failed", "docker", None),
        ({"msg": "boom"}, "engine", "step_failed", "engine start", None),
        # Words are never read: a message that sounds like a known failure is still step_failed.
        ({"msg": "port 8000 already in use (python3)"}, "engine", "step_failed", "engine start", None),
    ],
)  # fmt: skip
def test_the_failed_steps_reason_code_names_the_failure(result, stage, code, shown_phase, reason):
    failure = failures.sandbox_failure(result, task="Install Docker", stage=stage, params={"rerun": "run it again"})
    assert failure["reason_code"] == code
    assert failure["phase"] == shown_phase
    assert failure["reason"] == (reason or "a step failed: Install Docker")
    assert failure["todo"].endswith("run it again.") or "run it again" in failure["todo"]


def test_the_failed_item_of_a_loop_names_the_failure():
    result = {"results": [{"failed": False}, {"failed": True, "reason_code": "hub_error", "msg": "HTTP 502"}]}
    failure = failures.sandbox_failure(result, task="t", stage="engine")
    assert (failure["reason_code"], failure["phase"], failure["details"]) == ("hub_error", "model download", "HTTP 502")


def test_a_result_that_is_not_a_dict_still_explains():
    failure = failures.sandbox_failure("boom", task="", stage="docker")
    assert failure["reason"] == "a step failed: unnamed task" and failure["details"] == "boom"
    assert failure["exit_code"] == 11


def test_the_failure_motd_names_phase_reason_todo_and_log():
    failure = failures.sandbox_failure(
        {"msg": "x", "reason_code": "not_found"}, stage="engine", params={"model": "a/b"}
    )
    motd = failures.sandbox_failure_motd(failure, log_file="/var/log/ai-sandbox/first-boot.log", status_file="/s.json")
    assert "The sandbox setup FAILED in phase: model download" in motd
    assert "Reason: model not found on Hugging Face" in motd
    assert "Check the model id (a/b)" in motd
    assert "Full log: /var/log/ai-sandbox/first-boot.log" in motd and "Status:   /s.json (root only)" in motd


def test_phases_with_their_own_spans_overlap_and_are_sorted_by_start():
    marks = [
        {"phase": "engine", "at": T0},
        {"phase": "driver", "at": T0 + 5},
        {"phase": "docker", "at": T0 + 60},
        {"phase": "ui", "at": T0 + 200},
        {"phase": "end", "at": T0 + 260},
    ]
    engine = {
        "spans": {
            "model_check": [T0, T0 + 4],
            "model_download": [T0 + 4, T0 + 150],  # beside the driver and Docker installs
            "image_pull_engine": [T0 + 70, T0 + 120],
            "engine_start": [T0 + 150, T0 + 190],
            "first_token": [T0 + 190, T0 + 191],
        }
    }
    ui = {"spans": {"image_pull_ui": [T0 + 70, T0 + 130], "ui_ready": [T0 + 200, T0 + 230]}}
    from ansible_collections.oneclick.ai_sandbox.plugins.filter.sandbox_phases import sandbox_ready_seconds

    phases = sandbox_phases(marks, engine=engine, ui=ui)
    assert [(p["phase"], p["seconds"]) for p in phases] == [
        ("model check", 4.0),
        ("model download", 146.0),
        ("driver", 55.0),
        ("docker", 140.0),
        ("image pull (engine)", 50.0),
        ("image pull (UI)", 60.0),
        ("engine start", 40.0),
        ("first token", 1.0),
        ("UI ready", 30.0),
    ]
    assert sandbox_ready_seconds(marks) == 260.0
    assert sum(p["seconds"] for p in phases) > sandbox_ready_seconds(marks)
