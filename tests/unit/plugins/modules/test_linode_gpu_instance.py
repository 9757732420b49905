"""linode_gpu_instance through linode_api4 over HTTP against the Linode API emulator."""

import json

from conftest import LINODE_TOKEN, run_linode_module, run_module

CREATE = {
    "label": "sandbox-1",
    "region": "us-ord",
    "plan": "g2-gpu-rtx4000a1-s",
    "root_pass": "Sandbox-Root-Pass-42",
    "wait_timeout": 30,
}


def instance(api, args=None, **extra):
    params = dict(CREATE, **(args or {}))
    params.update(extra)
    return run_linode_module("linode_gpu_instance", api, params)


def test_create_then_nothing_changes(linode_api):
    created = instance(linode_api, _ansible_diff=True)
    assert created["changed"], created
    view = created["instance"]
    assert view["status"] == "running"
    assert view["plan"] == "g2-gpu-rtx4000a1-s" and view["region"] == "us-ord" and view["gpus"] == 1
    assert view["tags"] == ["ai-sandbox"]
    assert view["urls"] == {"chat": "http://%s:3000" % view["ipv4"], "api": "http://%s:8000/v1" % view["ipv4"]}
    assert created["diff"]["before"] == {}
    again = instance(linode_api)
    assert again["changed"] is False
    assert again["instance"]["id"] == view["id"]
    assert len([r for r in linode_api.writes() if r["path"] == "/linode/instances"]) == 1


def test_check_mode_makes_no_write(linode_api):
    result = instance(
        linode_api, _ansible_check_mode=True, _ansible_diff=True, firewall={"allowed_cidrs": ["203.0.113.0/24"]}
    )
    assert result["changed"]
    assert result["diff"]["after"]["type"] == "g2-gpu-rtx4000a1-s"
    assert linode_api.writes() == []
    assert linode_api.instances == {}


def test_firewall_lets_only_the_allowed_networks_in(linode_api):
    result = instance(linode_api, firewall={"allowed_cidrs": ["203.0.113.0/24", "2001:db8:1::/48"]})
    firewall = linode_api.firewalls[result["firewall_id"]]
    assert firewall["label"] == "sandbox-1-firewall"
    assert firewall["rules"]["inbound_policy"] == "DROP"
    rule = firewall["rules"]["inbound"][0]
    assert rule["ports"] == "22,3000,8000"
    assert rule["addresses"] == {"ipv4": ["203.0.113.0/24"], "ipv6": ["2001:db8:1::/48"]}
    assert firewall["_devices"] == [result["instance"]["id"]]
    again = instance(linode_api, firewall={"allowed_cidrs": ["2001:db8:1::/48", "203.0.113.0/24"]})
    assert again["changed"] is False
    assert [w["method"] for w in linode_api.writes()] == ["POST", "POST"]  # the firewall, the instance


def test_absent_deletes_instance_and_firewall(linode_api):
    instance(linode_api, firewall={"allowed_cidrs": ["203.0.113.0/24"]})
    check = run_linode_module(
        "linode_gpu_instance", linode_api, {"label": "sandbox-1", "state": "absent", "_ansible_check_mode": True}
    )
    assert check["changed"] and len(linode_api.instances) == 1
    gone = run_linode_module("linode_gpu_instance", linode_api, {"label": "sandbox-1", "state": "absent"})
    assert gone["changed"]
    assert linode_api.instances == {} and linode_api.firewalls == {}
    assert (
        run_linode_module("linode_gpu_instance", linode_api, {"label": "sandbox-1", "state": "absent"})["changed"]
        is False
    )


def test_drift_is_reported_and_the_instance_left_alone(linode_api):
    instance(linode_api)
    result = instance(linode_api, region="de-fra-2", plan="g2-gpu-rtx4000a2-s")
    assert result["failed"]
    assert result["drift"] == {
        "region": {"have": "us-ord", "want": "de-fra-2"},
        "plan": {"have": "g2-gpu-rtx4000a1-s", "want": "g2-gpu-rtx4000a2-s"},
    }
    assert "it was left as it is" in result["msg"]
    assert len(linode_api.instances) == 1
    assert not [w for w in linode_api.writes() if w["method"] == "DELETE"]


def test_sold_out_region_names_where_the_plan_is(linode_api):
    linode_api.sell_out("us-ord", "g2-gpu-rtx4000a1-s")
    result = instance(linode_api)
    assert result["failed"]
    assert result["msg"] == (
        "plan g2-gpu-rtx4000a1-s is not available in region us-ord now; it is available in: "
        "de-fra-2, fr-par, jp-osa, sg-sin-2, us-sea"
    )
    assert linode_api.writes() == []


def test_plan_must_be_an_rtx4000_ada_plan(linode_api):
    result = instance(linode_api, plan="g1-gpu-rtx6000-1")
    assert result["msg"].startswith("plan: 'g1-gpu-rtx6000-1' is not an RTX 4000 Ada plan")
    result = instance(linode_api, plan="g2-gpu-rtx4000a8-xl")
    assert result["msg"].startswith("plan: 'g2-gpu-rtx4000a8-xl' does not exist; RTX 4000 Ada plans now: ")


def test_region_outside_the_six_is_refused_by_name(linode_api):
    result = instance(linode_api, region="us-east")
    assert result["failed"]
    assert "region" in result["msg"] and "us-ord" in result["msg"]


def test_api_400_names_the_field(linode_api):
    result = instance(linode_api, image="private/999")
    assert result["failed"]
    assert result["msg"] == "Linode API 400: image: image is not valid; nothing was made"


def test_wrong_token_says_so(linode_api):
    result = run_linode_module("linode_gpu_instance", linode_api, dict(CREATE), token="not-the-token")
    assert result["failed"]
    assert result["msg"].startswith("Linode API 401: Invalid Token (check api_token or the LINODE_TOKEN")


def test_missing_token_is_a_clear_error(linode_api):
    result = run_module("linode_gpu_instance", dict(CREATE, api_url=linode_api.url))
    assert result["failed"]
    assert "api_token" in result["msg"]


def test_429_is_retried_after_retry_after(linode_api):
    linode_api.inject("GET", r"^/linode/instances$", 429, count=2, retry_after=0)
    linode_api.inject("POST", r"^/linode/instances$", 429, count=1, retry_after=0)
    result = instance(linode_api)
    assert result["changed"] and result["instance"]["status"] == "running"
    posts = [r for r in linode_api.writes() if r["path"] == "/linode/instances"]
    assert len(posts) == 2


def test_500_on_a_read_is_retried_and_on_a_create_looked_up_first(linode_api):
    linode_api.inject("GET", r"^/linode/types$", 500, count=1, retry_after=0)
    linode_api.inject("POST", r"^/linode/instances$", 500, count=1, retry_after=0)
    result = instance(linode_api)
    assert result["changed"], result
    assert len([r for r in linode_api.requests if r["path"] == "/linode/types"]) == 2
    assert len(linode_api.instances) == 1
    posts = [r for r in linode_api.writes() if r["path"] == "/linode/instances"]
    assert len(posts) == 2  # refused once (nothing made: the lookup found nothing), then made


def test_429_forever_gives_up_with_a_message(linode_api):
    linode_api.inject("GET", r"^/linode/instances$", 429, count=100, retry_after=0)
    result = instance(linode_api, api_retries=2)
    assert result["msg"] == "Linode API 429: Too many requests (gave up after 2 retries)"


def test_wait_timeout(linode_api):
    linode_api.boot_seconds = 60
    result = instance(linode_api, wait_timeout=1)
    assert result["failed"]
    assert result["msg"].startswith("instance sandbox-1 did not reach running within 1 s (status: ")
    assert result["instance"]["label"] == "sandbox-1"


def test_stackscript_by_label_and_secret_udfs_stay_out_of_output(linode_api):
    script = run_linode_module(
        "linode_stackscript",
        linode_api,
        {"label": "ai-sandbox", "script": '#!/bin/bash\n# <UDF name="hf_token_password" label="HF token">\n'},
    )
    result = instance(
        linode_api,
        stackscript_label="ai-sandbox",
        stackscript_data={"ui_auth": "no"},
        stackscript_secrets={"hf_token_password": "hf_secret_value_123"},
    )
    assert result["changed"], result
    created = linode_api.instances[result["instance"]["id"]]
    assert created["_stackscript_id"] == script["stackscript"]["id"]
    assert created["_stackscript_data"] == {"ui_auth": "no", "hf_token_password": "hf_secret_value_123"}
    assert "hf_secret_value_123" not in json.dumps(result)


def test_token_and_passwords_never_appear_in_output(linode_api):
    start = len(run_module.outputs)
    instance(linode_api, stackscript_secrets={"hf_token_password": "hf_secret_value_456"})
    instance(linode_api, region="de-fra-2")
    run_linode_module("linode_gpu_instance", linode_api, dict(CREATE), token="wrong-token-zz")
    linode_api.inject("POST", r"^/linode/instances$", 500, count=1)
    instance(linode_api, label="sandbox-2")
    output = "".join(run_module.outputs[start:])
    assert len(run_module.outputs) - start == 4
    for secret in (LINODE_TOKEN, "wrong-token-zz", "Sandbox-Root-Pass-42", "hf_secret_value_456"):
        assert secret not in output


def test_requests_name_this_collection(linode_api):
    instance(linode_api)
    assert all("oneclick.ai_sandbox/0.1.0" in r["user_agent"] for r in linode_api.requests)


def test_unreachable_api_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    args = dict(CREATE, api_url="http://127.0.0.1:%d/v4" % closed, api_token="x", api_retries=1)
    result = run_module("linode_gpu_instance", args)
    assert result["msg"] == (
        "cannot reach the Linode API at http://127.0.0.1:%d/v4: connection refused (gave up after 1 retries)" % closed
    )


def test_both_instance_create_return_shapes(linode_api):
    """linode_api4 up to 5.43 returns (instance, password); from 5.44 an Instance."""
    from ansible_collections.oneclick.ai_sandbox.plugins.module_utils.linode import SandboxClient

    client = SandboxClient(LINODE_TOKEN, linode_api.url)
    real = client.api.linode.instance_create
    client.api.linode.instance_create = lambda *args, **kwargs: (real(*args, **kwargs), "generated-password")
    old = client.create_instance(
        "g2-gpu-rtx4000a1-s", "us-ord", image="linode/ubuntu22.04", label="old-shape", root_pass="Sandbox-Root-Pass-42"
    )
    client.api.linode.instance_create = real
    new = client.create_instance(
        "g2-gpu-rtx4000a1-s", "us-ord", image="linode/ubuntu22.04", label="new-shape", root_pass="Sandbox-Root-Pass-42"
    )
    assert (old["label"], new["label"]) == ("old-shape", "new-shape")
    assert old["id"] in linode_api.instances and new["id"] in linode_api.instances
