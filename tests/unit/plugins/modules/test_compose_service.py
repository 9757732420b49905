"""compose_service owns one service of a shared compose file and leaves the others alone."""

import yaml
from conftest import run_module

VLLM = {"image": "vllm/vllm-openai:v0.33.0", "restart": "unless-stopped", "command": ["m", "--max-num-seqs", "1"]}
UI = {"image": "ghcr.io/open-webui/open-webui:v0.12.4", "restart": "unless-stopped"}


def apply(path, service, definition=None, **args):
    params = {"path": str(path), "project": "ai-sandbox", "service": service}
    if definition is not None:
        params["definition"] = definition
    params.update(args)
    return run_module("compose_service", params)


def test_writes_then_changes_nothing(tmp_path):
    path = tmp_path / "docker-compose.yml"
    first = apply(path, "vllm", VLLM)
    assert first["changed"] and first["services"] == ["vllm"]
    document = yaml.safe_load(path.read_text())
    assert document == {"name": "ai-sandbox", "services": {"vllm": VLLM}}
    assert path.read_text().startswith("# The One-Click AI Sandbox stack. Managed by Ansible")
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert apply(path, "vllm", VLLM)["changed"] is False


def test_other_services_and_user_keys_are_kept(tmp_path):
    path = tmp_path / "docker-compose.yml"
    apply(path, "vllm", VLLM)
    apply(path, "open-webui", UI, volumes={"webui": {}})
    changed = dict(VLLM, image="vllm/vllm-openai:v0.34.0")
    assert apply(path, "vllm", changed)["changed"]
    document = yaml.safe_load(path.read_text())
    assert document["services"] == {"vllm": changed, "open-webui": UI}
    assert document["volumes"] == {"webui": {}}


def test_absent_removes_only_that_service(tmp_path):
    path = tmp_path / "docker-compose.yml"
    apply(path, "vllm", VLLM)
    apply(path, "open-webui", UI)
    result = apply(path, "open-webui", state="absent")
    assert result["changed"] and result["services"] == ["vllm"]


def test_check_mode_writes_nothing_and_diff_shows_the_change(tmp_path):
    path = tmp_path / "docker-compose.yml"
    result = apply(path, "vllm", VLLM, _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"]
    assert not path.exists()
    assert result["diff"]["before"] == ""
    assert "vllm/vllm-openai:v0.33.0" in result["diff"]["after"]


def test_broken_file_is_left_alone(tmp_path):
    path = tmp_path / "docker-compose.yml"
    path.write_text("services: [unclosed\n")
    result = apply(path, "vllm", VLLM)
    assert result["failed"]
    assert "is not valid YAML, so it was left as it is" in result["msg"]
    assert path.read_text() == "services: [unclosed\n"


def test_present_needs_a_definition(tmp_path):
    result = apply(tmp_path / "c.yml", "vllm")
    assert result["failed"]
    assert "definition" in result["msg"]


def test_two_owners_with_the_default_header_leave_each_other_alone(tmp_path):
    path = tmp_path / "docker-compose.yml"
    apply(path, "vllm", VLLM)
    apply(path, "open-webui", UI)
    assert apply(path, "vllm", VLLM)["changed"] is False
    assert apply(path, "open-webui", UI)["changed"] is False
