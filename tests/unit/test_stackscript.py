"""stackscripts/ai-sandbox.sh as Linode runs it: UDF handling and validation, hostile values refused or
inert, the exit code and status taken from the site playbook's report, the reboot-once path, re-runs.

Nothing here touches the host: every system path the script reaches is under tmp_path and every
system command it may run (systemctl, dpkg, apt-get) is a recording stand-in first on PATH.
"""

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.stackscript

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "stackscripts", "ai-sandbox.sh")

RECORDER = """#!/bin/bash
# Stand-in for %s: records what it was asked, changes nothing.
echo "%s $*" >> "$FAKE_CALLS"
"""


def base_env(tmp_path, systemd=False):
    """The script's switches aimed at tmp_path, and stand-ins for the system commands it may run."""
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    for tool in ("systemctl", "dpkg", "apt-get"):
        (fake_bin / tool).write_text(RECORDER % (tool, tool))
        (fake_bin / tool).chmod(0o755)
    (tmp_path / "units").mkdir(exist_ok=True)
    systemd_dir = tmp_path / "run-systemd"
    if systemd:
        systemd_dir.mkdir(exist_ok=True)
    return {
        "PATH": "%s:%s" % (fake_bin, os.environ["PATH"]),
        "AI_SANDBOX_STATE_DIR": str(tmp_path / "state"),
        "AI_SANDBOX_LOG_DIR": str(tmp_path / "log"),
        "AI_SANDBOX_MOTD": str(tmp_path / "motd"),
        "AI_SANDBOX_CONSOLE": str(tmp_path / "console"),
        "AI_SANDBOX_SYSTEMD_DIR": str(systemd_dir),
        "AI_SANDBOX_UNIT_DIR": str(tmp_path / "units"),
        "FAKE_CALLS": str(tmp_path / "calls.log"),
        # The status page server binds port 3000: never on the test host.
        "AI_SANDBOX_STATUS_PAGE": "0",
    }


def calls(tmp_path):
    path = tmp_path / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def run(tmp_path, **udfs):
    env = base_env(tmp_path)
    env["AI_SANDBOX_VALIDATE_ONLY"] = "1"
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
        "vllm_service_api_key": "",
        "open_webui_auth": False,
        "ai_sandbox_hosts": "localhost",
        "ai_sandbox_log_file": str(tmp_path / "log" / "first-boot.log"),
        "ai_sandbox_status_file": str(tmp_path / "state" / "first-boot.json"),
        "ai_sandbox_rerun_hint": "run: systemctl start ai-sandbox-first-boot",
        "ai_sandbox_token_hint": "put it in %s as hf_token_password=hf_..." % (tmp_path / "state" / "first-boot.env"),
    }
    assert calls(tmp_path) == []


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
        ({"model_id": "mistralai/Mistral-7B-Instruct-v0.3\n"}, "model_id"),
        ({"hf_token_password": "hf_$(reboot)"}, "hf_token_password"),
        ({"hf_token_password": "hf_abcdefgh123\nVLLM_API_KEY=x"}, "hf_token_password"),
        ({"ui_auth": "maybe"}, "ui_auth"),
        ({"ui_auth": "yes\n"}, "ui_auth"),
        ({"repo_url": "git@github.com:x/y.git; reboot"}, "repo_url"),
        ({"repo_url": "ftp://example.com/x"}, "repo_url"),
        ({"repo_ref": "main; reboot"}, "repo_ref"),
        ({"repo_ref": "../../etc"}, "repo_ref"),
        ({"repo_ref": "main\n"}, "repo_ref"),
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
    assert (status["state"], status["phase"], status["exit_code"], status["reason_code"]) == (
        "failed",
        "input",
        2,
        "bad_input",
    )
    assert status["reason"] in motd
    assert "\n" not in status["reason"]


def test_an_api_key_given_or_generated_once_and_kept(tmp_path):
    given = tmp_path / "given"
    given.mkdir()
    assert run(given, api_key_password="k" * 20).returncode == 0
    assert extra_vars(given)["vllm_service_api_key"] == "k" * 20
    assert run(tmp_path, API_KEY_PASSWORD="generate").returncode == 0
    generated = extra_vars(tmp_path)["vllm_service_api_key"]
    assert len(generated) >= 40 and generated != "generate"
    assert run(tmp_path, API_KEY_PASSWORD="generate").returncode == 0  # a resume: the same key
    assert extra_vars(tmp_path)["vllm_service_api_key"] == generated
    refused = run(tmp_path, api_key_password="short\nVLLM_X=1")
    assert refused.returncode == 2 and refused.stderr.startswith("ai-sandbox: api_key_password")
    assert "short" not in refused.stderr + (tmp_path / "motd").read_text()


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
[ -n "$FAKE_MOTD" ] && printf '%s' "$FAKE_MOTD" > "$AI_SANDBOX_MOTD"
exit "$FAKE_RC"
"""


def first_boot(tmp_path, rc, report=None, systemd=False, motd="", **udfs):
    state = tmp_path / "state"
    bin_dir = state / "venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "ansible-pull").write_text(FAKE_PULL)
    (bin_dir / "ansible-galaxy").write_text('#!/bin/bash\necho "ansible-galaxy $*" >> "$FAKE_CALLS"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    mirror = tmp_path / "collections"
    mirror.mkdir(exist_ok=True)
    for name in ("docker-3.13.3", "general-9.5.2", "library_inventory_filtering_v1-1.0.2"):
        (mirror / ("community-%s.tar.gz" % name)).write_text("")
    env = base_env(tmp_path, systemd=systemd)
    env.update(
        {
            "AI_SANDBOX_COLLECTIONS_DIR": str(mirror),
            "FAKE_RC": str(rc),
            "FAKE_REPORT": json.dumps(report) if report else "",
            "FAKE_MOTD": motd,
            "FAKE_ARGS": str(tmp_path / "pull-args"),
        }
    )
    env.update(udfs)
    result = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, check=False)
    status = json.loads((state / "first-boot.json").read_text())
    return result, status


def test_the_pinned_collections_come_from_the_mirror(tmp_path):
    result, _status = first_boot(tmp_path, 0, {"state": "ready"})
    assert result.returncode == 0, result.stdout + result.stderr
    (install,) = [c for c in calls(tmp_path) if c.startswith("ansible-galaxy")]
    assert install.endswith(
        " ".join(
            str(tmp_path / "collections" / name)
            for name in (
                "community-docker-3.13.3.tar.gz",
                "community-general-9.5.2.tar.gz",
                "community-library_inventory_filtering_v1-1.0.2.tar.gz",
            )
        )
    )


def test_a_mirror_without_the_pinned_versions_fails_in_bootstrap(tmp_path):
    (tmp_path / "collections").mkdir()
    (tmp_path / "collections" / "community-docker-1.0.0.tar.gz").write_text("")
    state = tmp_path / "state" / "venv" / "bin"
    state.mkdir(parents=True)
    (state / "ansible-pull").write_text("#!/bin/bash\nexit 0\n")
    (state / "ansible-pull").chmod(0o755)
    env = base_env(tmp_path)
    env["AI_SANDBOX_COLLECTIONS_DIR"] = str(tmp_path / "collections")
    result = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    status = json.loads((tmp_path / "state" / "first-boot.json").read_text())
    assert (status["phase"], status["reason_code"]) == ("bootstrap", "bootstrap_failed")
    assert "the collections mirror lacks" in (tmp_path / "log" / "first-boot.log").read_text()


def test_ansible_pull_that_never_started_the_play(tmp_path):
    result, status = first_boot(tmp_path, 1)
    assert result.returncode == 4
    assert (status["phase"], status["exit_code"], status["reason_code"]) == ("ansible-pull", 4, "pull_failed")
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
    again = subprocess.run(["bash", SCRIPT], env=base_env(tmp_path), capture_output=True, text=True, check=False)
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
    assert "hf_secretsecret42" not in (tmp_path / "console").read_text()


def test_the_log_goes_to_the_console_switch(tmp_path):
    first_boot(tmp_path, 0, {"state": "ready"})
    assert "ai-sandbox: first boot started" in (tmp_path / "console").read_text()


def test_a_driver_that_needs_a_reboot_reboots_once_and_resumes_by_the_unit(tmp_path):
    report = {"state": "failed", "phase": "driver", "reason_code": "driver_needs_reboot", "exit_code": 10,
              "reason": "NVIDIA driver did not load (it needs a reboot)", "todo": "Reboot."}  # fmt: skip
    result, status = first_boot(tmp_path, 2, report, systemd=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (status["state"], status["phase"], status["exit_code"]) == ("rebooting", "driver", 0)
    assert "rebooting to load the NVIDIA driver" in (tmp_path / "motd").read_text()
    systemctl = [c for c in calls(tmp_path) if c.startswith("systemctl")]
    assert "systemctl enable ai-sandbox-first-boot.service" in systemctl and systemctl[-1] == "systemctl reboot"
    unit = (tmp_path / "units" / "ai-sandbox-first-boot.service").read_text()
    assert "ExecStart=/bin/bash %s" % (tmp_path / "state" / "first-boot.sh") in unit
    assert "ConditionPathExists=!%s" % (tmp_path / "state" / "first-boot.done") in unit
    assert "WantedBy=multi-user.target" in unit
    # After the reboot the unit runs the kept copy; the driver still does not load: no second reboot.
    result, status = first_boot(tmp_path, 2, report, systemd=True)
    assert result.returncode == 10
    assert (status["state"], status["phase"], status["exit_code"]) == ("failed", "driver", 10)
    assert [c for c in calls(tmp_path) if c == "systemctl reboot"] == ["systemctl reboot"]
    assert "dpkg --configure -a" in calls(tmp_path)
    marks = json.loads((tmp_path / "state" / "boot-marks.json").read_text())["ai_sandbox_boot_marks"]
    assert [m["phase"] for m in marks] == ["bootstrap", "ansible_pull", "resume", "ansible_pull"]


def test_without_systemd_no_unit_is_written_and_nothing_reboots(tmp_path):
    report = {"state": "failed", "phase": "driver", "reason_code": "driver_needs_reboot", "exit_code": 10}
    result, _status = first_boot(tmp_path, 2, report, systemd=False)
    assert result.returncode == 10
    assert not list((tmp_path / "units").iterdir())
    assert not [c for c in calls(tmp_path) if c.startswith("systemctl")]
