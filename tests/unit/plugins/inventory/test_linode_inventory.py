"""The linode inventory plugin, run by ansible-inventory against the Linode API emulator."""

import json
import os
import subprocess
import sys

import yaml
from conftest import LINODE_TOKEN

INVENTORY = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")


def inventory(api, tmp_path, config=None, token=LINODE_TOKEN, name="sandboxes.linode.yml"):
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump(dict({"plugin": "oneclick.ai_sandbox.linode", "api_url": api.url}, **(config or {})))
    )
    env = dict(os.environ, LINODE_TOKEN=token, ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    result = subprocess.run(
        [INVENTORY, "-i", str(path), "--list"], capture_output=True, text=True, env=env, check=False
    )
    return result


def plain(value):
    """ansible-core 2.19+ prints inventory strings as {"__ansible_unsafe": value}; 2.17 prints them bare."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def listed(result):
    assert result.returncode == 0, result.stderr
    return plain(json.loads(result.stdout))


def test_hosts_vars_and_groups(linode_api, tmp_path):
    sandbox = linode_api.add_instance(
        "sb-chicago", "us-ord", "g2-gpu-rtx4000a1-s", tags=["ai-sandbox"], status="running"
    )
    linode_api.add_instance("sb-paris", "fr-par", "g2-gpu-rtx4000a2-s", tags=["ai-sandbox", "team-a"], status="running")
    linode_api.add_instance("web-1", "us-east", "g6-standard-2", tags=["web"], status="running")
    data = listed(inventory(linode_api, tmp_path))
    assert sorted(data["ai_sandbox"]["hosts"]) == ["sb-chicago", "sb-paris"]
    hostvars = data["_meta"]["hostvars"]["sb-chicago"]
    address = sandbox["ipv4"][0]
    assert hostvars["ansible_host"] == address
    assert hostvars["linode_region"] == "us-ord"
    assert hostvars["linode_plan"] == "g2-gpu-rtx4000a1-s"
    assert hostvars["linode_gpus"] == 1
    assert hostvars["linode_status"] == "running"
    assert hostvars["ai_sandbox_chat_url"] == "http://%s:3000" % address
    assert hostvars["ai_sandbox_api_url"] == "http://%s:8000/v1" % address
    assert data["region_fr_par"]["hosts"] == ["sb-paris"]
    assert data["plan_g2_gpu_rtx4000a2_s"]["hosts"] == ["sb-paris"]
    assert sorted(data["status_running"]["hosts"]) == ["sb-chicago", "sb-paris"]
    assert "web-1" not in data["_meta"]["hostvars"]


def test_api_values_are_never_templated(linode_api, tmp_path):
    linode_api.add_instance("sb-1", tags=["ai-sandbox", "{{ lookup('pipe', 'touch /tmp/pwned') }}"], status="running")
    data = listed(inventory(linode_api, tmp_path, {"compose": {"first_tag": "linode_tags[1]"}}))
    hostvars = data["_meta"]["hostvars"]["sb-1"]
    assert hostvars["linode_tags"][0] == "ai-sandbox"
    assert hostvars["linode_tags"][1] == "{{ lookup('pipe', 'touch /tmp/pwned') }}"
    assert hostvars["first_tag"] == "{{ lookup('pipe', 'touch /tmp/pwned') }}"
    assert not os.path.exists("/tmp/pwned")


def test_filters_and_ipv6(linode_api, tmp_path):
    linode_api.add_instance("sb-1", "us-ord", tags=["ai-sandbox"], status="running")
    linode_api.add_instance("sb-2", "jp-osa", "g2-gpu-rtx4000a2-s", tags=["ai-sandbox", "team-a"], status="running")
    data = listed(inventory(linode_api, tmp_path, {"regions": ["jp-osa"], "address": "ipv6"}))
    assert data["ai_sandbox"]["hosts"] == ["sb-2"]
    assert data["_meta"]["hostvars"]["sb-2"]["ansible_host"].startswith("2001:db8::")
    data = listed(inventory(linode_api, tmp_path, {"tags": ["ai-sandbox", "team-a"]}))
    assert data["ai_sandbox"]["hosts"] == ["sb-2"]
    data = listed(inventory(linode_api, tmp_path, {"plans": ["g2-gpu-rtx4000a1-s"]}))
    assert data["ai_sandbox"]["hosts"] == ["sb-1"]


def test_every_page_is_read(linode_api, tmp_path):
    for number in range(130):
        linode_api.add_instance("sb-%03d" % number, tags=["ai-sandbox"], status="running")
    data = listed(inventory(linode_api, tmp_path))
    assert len(data["ai_sandbox"]["hosts"]) == 130
    pages = sorted(r["query"] for r in linode_api.requests if r["path"] == "/linode/instances")
    assert pages == ["page=1", "page=2"]


def test_compose_groups_and_keyed_groups(linode_api, tmp_path):
    linode_api.add_instance("sb-1", "us-ord", tags=["ai-sandbox"], status="running")
    linode_api.add_instance("sb-2", "us-sea", "g2-gpu-rtx4000a4-m", tags=["ai-sandbox"], status="running")
    config = {
        "compose": {"ansible_user": "'ubuntu'", "sandbox_gpu_memory_gb": "linode_gpus * 20"},
        "groups": {"multi_gpu": "linode_gpus > 1"},
        "keyed_groups": [{"key": "linode_gpus | string", "prefix": "gpus"}],
    }
    data = listed(inventory(linode_api, tmp_path, config))
    assert data["_meta"]["hostvars"]["sb-2"]["ansible_user"] == "ubuntu"
    assert int(data["_meta"]["hostvars"]["sb-2"]["sandbox_gpu_memory_gb"]) == 80  # 2.17 composes strings
    assert data["multi_gpu"]["hosts"] == ["sb-2"]
    assert data["gpus_4"]["hosts"] == ["sb-2"] and data["gpus_1"]["hosts"] == ["sb-1"]


def test_cache_serves_the_second_run(linode_api, tmp_path):
    linode_api.add_instance("sb-1", tags=["ai-sandbox"], status="running")
    config = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache")}
    listed(inventory(linode_api, tmp_path, config))
    calls = len(linode_api.requests)
    linode_api.add_instance("sb-2", tags=["ai-sandbox"], status="running")
    data = listed(inventory(linode_api, tmp_path, config))
    assert len(linode_api.requests) == calls
    assert data["ai_sandbox"]["hosts"] == ["sb-1"]


def test_file_name_must_end_in_linode_yml(linode_api, tmp_path):
    result = inventory(linode_api, tmp_path, name="sandboxes.yml")
    assert result.returncode != 0


def test_wrong_token_is_reported_without_the_token(linode_api, tmp_path):
    result = inventory(linode_api, tmp_path, token="bad-token-998877")
    assert result.returncode != 0
    assert "Linode API 401: Invalid Token" in result.stderr
    assert "bad-token-998877" not in result.stderr + result.stdout


def test_the_example_config_parses(linode_api, tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    with open(os.path.join(root, "inventory", "linode.yml")) as handle:
        example = yaml.safe_load(handle)
    example["cache_connection"] = str(tmp_path / "cache")
    linode_api.add_instance("sb-1", tags=["ai-sandbox"], status="running")
    data = listed(inventory(linode_api, tmp_path, {k: v for k, v in example.items() if k != "plugin"}))
    assert data["gpus_1"]["hosts"] == ["sb-1"]
    assert data["_meta"]["hostvars"]["sb-1"]["ansible_user"] == "root"


def test_a_token_is_never_sent_in_clear_over_a_network(linode_api, tmp_path):
    for url in ("http://api.example.com/v4", "https://me:pw@api.linode.com/v4", "https://api.linode.com/v4\n"):
        result = inventory(linode_api, tmp_path, {"api_url": url})
        assert result.returncode != 0
        said = " ".join(result.stderr.split())  # ansible-core 2.17 wraps its warnings
        assert "api_url: " in said and "is not a URL this collection sends a token to" in said
        assert ":pw@" not in result.stderr
    assert linode_api.requests == []


def test_a_token_with_a_newline_is_refused_without_showing_it(linode_api, tmp_path):
    result = inventory(linode_api, tmp_path, token="tok\nX-Injected: 1")
    assert result.returncode != 0
    said = " ".join(result.stderr.split())  # ansible-core 2.17 wraps its warnings
    assert "api_token: the token given (hidden, 17 characters) is not a Linode token" in said
    assert "X-Injected" not in result.stderr + result.stdout
    assert linode_api.requests == []
