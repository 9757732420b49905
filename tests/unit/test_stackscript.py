"""stackscripts/ai-sandbox.sh: UDF handling and validation; hostile values are refused or stay inert."""

import json
import os
import subprocess

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "stackscripts", "ai-sandbox.sh")


def run(tmp_path, **udfs):
    env = {
        "PATH": os.environ["PATH"],
        "AI_SANDBOX_STATE_DIR": str(tmp_path / "state"),
        "AI_SANDBOX_LOG_DIR": str(tmp_path / "log"),
        "AI_SANDBOX_MOTD": str(tmp_path / "motd"),
        "AI_SANDBOX_VALIDATE_ONLY": "1",
    }
    env.update(udfs)
    return subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, check=False)


def extra_vars(tmp_path):
    path = tmp_path / "state" / "extra-vars.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    return json.loads(path.read_text())


def test_defaults(tmp_path):
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert extra_vars(tmp_path) == {
        "vllm_service_model": "mistralai/Mistral-7B-Instruct-v0.3",
        "vllm_service_hf_token": "",
        "open_webui_auth": False,
        "ai_sandbox_hosts": "localhost",
        "ai_sandbox_log_file": str(tmp_path / "log" / "first-boot.log"),
        "ai_sandbox_rerun_hint": "run: systemctl start ai-sandbox-first-boot",
        "ai_sandbox_token_hint": "put it in %s as hf_token_password=hf_..." % (tmp_path / "state" / "first-boot.env"),
    }


@pytest.mark.parametrize("form", ["lower", "upper"])
def test_both_variable_forms_are_read(tmp_path, form):
    udfs = {"model_id": "Qwen/Qwen2.5-7B-Instruct", "hf_token_password": "hf_abcdefgh123", "ui_auth": "yes"}
    if form == "upper":
        udfs = {name.upper(): value for name, value in udfs.items()}
    assert run(tmp_path, **udfs).returncode == 0
    values = extra_vars(tmp_path)
    assert values["vllm_service_model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert values["vllm_service_hf_token"] == "hf_abcdefgh123"
    assert values["open_webui_auth"] is True


@pytest.mark.parametrize(
    ("udfs", "field"),
    [
        ({"model_id": 'x"; rm -rf / #'}, "model_id"),
        ({"model_id": "$(reboot)"}, "model_id"),
        ({"model_id": "mistral"}, "model_id"),
        ({"hf_token_password": "hf_$(reboot)"}, "hf_token_password"),
        ({"ui_auth": "maybe"}, "ui_auth"),
        ({"repo_url": "git@github.com:x/y.git; reboot"}, "repo_url"),
        ({"repo_url": "ftp://example.com/x"}, "repo_url"),
        ({"repo_ref": "main; reboot"}, "repo_ref"),
        ({"repo_ref": "../../etc"}, "repo_ref"),
    ],
)
def test_hostile_or_malformed_values_are_refused(tmp_path, udfs, field):
    result = run(tmp_path, **udfs)
    assert result.returncode == 2
    assert result.stderr.startswith("ai-sandbox: %s" % field)
    assert not (tmp_path / "state" / "extra-vars.json").exists()
    motd = (tmp_path / "motd").read_text()
    assert "FAILED in phase: input" in motd and field in motd
    status = json.loads((tmp_path / "state" / "first-boot.json").read_text())
    assert (status["state"], status["phase"], status["exit_code"]) == ("failed", "input", 2)
    assert status["reason"] in motd


def test_token_is_never_printed(tmp_path):
    result = run(tmp_path, hf_token_password="hf_secretsecret42")
    assert "hf_secretsecret42" not in result.stdout + result.stderr
    for path in (tmp_path / "log").glob("*"):
        assert "hf_secretsecret42" not in path.read_text()
    assert "hf_secretsecret42" in (tmp_path / "state" / "extra-vars.json").read_text()


# --- after ansible-pull: a stand-in ansible-pull (the real one runs in the end-to-end test) -------
FAKE_PULL = """#!/bin/bash
# Stand-in for ansible-pull: leaves the site playbook's report the test asks for, exits with its code.
printf '%s\n' "$@" > "$FAKE_ARGS"
[ -n "$FAKE_REPORT" ] && printf '%s' "$FAKE_REPORT" > "$AI_SANDBOX_STATE_DIR/site-report.json"
exit "$FAKE_RC"
"""


FAKE_SYSTEMCTL = """#!/bin/bash
# Stand-in for systemctl: records what it was asked.
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
"""


def first_boot(tmp_path, rc, report=None, systemd=False, **udfs):
    state = tmp_path / "state"
    bin_dir = state / "venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "ansible-pull").write_text(FAKE_PULL)
    (bin_dir / "ansible-galaxy").write_text("#!/bin/bash\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    (tmp_path / "collections").mkdir(exist_ok=True)
    (tmp_path / "collections" / "community-docker-1.0.0.tar.gz").write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "AI_SANDBOX_STATE_DIR": str(state),
        "AI_SANDBOX_LOG_DIR": str(tmp_path / "log"),
        "AI_SANDBOX_MOTD": str(tmp_path / "motd"),
        "AI_SANDBOX_COLLECTIONS_DIR": str(tmp_path / "collections"),
        "FAKE_RC": str(rc),
        "FAKE_REPORT": json.dumps(report) if report else "",
        "FAKE_ARGS": str(tmp_path / "pull-args"),
    }
    if systemd:
        fake_bin = tmp_path / "fake-bin"
        fake_bin.mkdir(exist_ok=True)
        (fake_bin / "systemctl").write_text(FAKE_SYSTEMCTL)
        (fake_bin / "systemctl").chmod(0o755)
        (tmp_path / "run-systemd").mkdir(exist_ok=True)
        (tmp_path / "units").mkdir(exist_ok=True)
        env.update(
            {
                "PATH": "%s:%s" % (fake_bin, os.environ["PATH"]),
                "FAKE_SYSTEMCTL_LOG": str(tmp_path / "systemctl.log"),
                "AI_SANDBOX_SYSTEMD_DIR": str(tmp_path / "run-systemd"),
                "AI_SANDBOX_UNIT_DIR": str(tmp_path / "units"),
            }
        )
    env.update(udfs)
    result = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, check=False)
    status = json.loads((state / "first-boot.json").read_text())
    return result, status


@pytest.mark.parametrize(
    ("phase", "code"),
    [
        ("driver", 10),
        ("docker", 11),
        ("model download", 12),
        ("image pull (UI)", 13),
        ("engine start", 14),
        ("UI ready", 15),
    ],
)
def test_exit_code_and_status_follow_the_site_report(tmp_path, phase, code):
    report = {
        "state": "failed",
        "phase": phase,
        "reason_code": "x",
        "reason": "port 8000 already in use (python3)",
        "todo": "Stop it.",
        "phases": [{"phase": "driver", "started_at": "2026-11-22T10:00:00Z", "seconds": 1.0}],
    }
    result, status = first_boot(tmp_path, 2, report)
    assert result.returncode == code, result.stdout + result.stderr
    assert (status["state"], status["phase"], status["exit_code"]) == ("failed", phase, code)
    assert status["reason"] == report["reason"] and status["phases"] == report["phases"]
    assert not (tmp_path / "state" / "first-boot.done").exists()


def test_ansible_pull_that_never_started_the_play(tmp_path):
    result, status = first_boot(tmp_path, 1)
    assert result.returncode == 4
    assert status["phase"] == "ansible-pull" and status["exit_code"] == 4
    assert "before the setup started" in (tmp_path / "motd").read_text()
    assert [p["phase"] for p in status["phases"]] == ["bootstrap", "ansible-pull"]


def test_success_then_a_rerun_changes_nothing(tmp_path):
    report = {"state": "ready", "phases": [{"phase": "bootstrap", "started_at": "2026-11-22T10:00:00Z", "seconds": 30}]}
    result, status = first_boot(tmp_path, 0, report, MODEL_ID="oneclick-testbed/tiny-chat")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (status["state"], status["phase"], status["exit_code"]) == ("ready", "done", 0)
    args = (tmp_path / "pull-args").read_text().splitlines()
    assert args[args.index("-e") + 1] == "@%s" % (tmp_path / "state" / "extra-vars.json")
    assert args[-1] == "playbooks/site.yml"
    before = {p: p.read_bytes() for p in (tmp_path / "state").iterdir() if p.is_file()}
    again = subprocess.run(
        ["bash", SCRIPT],
        env={
            "PATH": os.environ["PATH"],
            "AI_SANDBOX_STATE_DIR": str(tmp_path / "state"),
            "AI_SANDBOX_MOTD": str(tmp_path / "motd"),
            "AI_SANDBOX_LOG_DIR": str(tmp_path / "log"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert before == {p: p.read_bytes() for p in (tmp_path / "state").iterdir() if p.is_file()}


def test_the_resume_environment_keeps_values_and_switches(tmp_path):
    first_boot(tmp_path, 0, {"state": "ready"}, hf_token_password="hf_secretsecret42")
    env_file = tmp_path / "state" / "first-boot.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    lines = env_file.read_text().splitlines()
    assert 'hf_token_password="hf_secretsecret42"' in lines
    assert 'AI_SANDBOX_COLLECTIONS_DIR="%s"' % (tmp_path / "collections") in lines
    assert "hf_secretsecret42" not in (tmp_path / "log" / "first-boot.log").read_text()


def test_a_driver_that_needs_a_reboot_reboots_once_and_resumes_by_the_unit(tmp_path):
    report = {"state": "failed", "phase": "driver", "reason_code": "driver_needs_reboot",
              "reason": "NVIDIA driver did not load (it needs a reboot)", "todo": "Reboot."}  # fmt: skip
    result, status = first_boot(tmp_path, 2, report, systemd=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (status["state"], status["phase"], status["exit_code"]) == ("rebooting", "driver", 0)
    assert "rebooting to load the NVIDIA driver" in (tmp_path / "motd").read_text()
    calls = (tmp_path / "systemctl.log").read_text().splitlines()
    assert "enable ai-sandbox-first-boot.service" in calls and calls[-1] == "reboot"
    unit = (tmp_path / "units" / "ai-sandbox-first-boot.service").read_text()
    assert "ExecStart=/bin/bash %s" % (tmp_path / "state" / "first-boot.sh") in unit
    assert "ConditionPathExists=!%s" % (tmp_path / "state" / "first-boot.done") in unit
    assert "WantedBy=multi-user.target" in unit
    # After the reboot the unit runs the kept copy; the driver still does not load: no second reboot.
    result, status = first_boot(tmp_path, 2, report, systemd=True)
    assert result.returncode == 10
    assert (status["state"], status["phase"], status["exit_code"]) == ("failed", "driver", 10)
    assert [c for c in (tmp_path / "systemctl.log").read_text().splitlines() if c == "reboot"] == ["reboot"]
    marks = json.loads((tmp_path / "state" / "boot-marks.json").read_text())["ai_sandbox_boot_marks"]
    assert [m["phase"] for m in marks] == ["bootstrap", "ansible-pull", "resume", "ansible-pull"]
