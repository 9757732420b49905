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


def test_token_is_never_printed(tmp_path):
    result = run(tmp_path, hf_token_password="hf_secretsecret42")
    assert "hf_secretsecret42" not in result.stdout + result.stderr
    for path in (tmp_path / "log").glob("*"):
        assert "hf_secretsecret42" not in path.read_text()
    assert "hf_secretsecret42" in (tmp_path / "state" / "extra-vars.json").read_text()
