"""linode_gpu_instance acts only on what it made, keeps the firewall's rules as asked, survives the
faults the emulator can inject (429, 5xx, a reset connection, a lost answer, a slow answer) without
making anything twice, and leaves nothing behind when a create fails."""

import json

import pytest
from conftest import LINODE_TOKEN, run_linode_module, run_module

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode as common

CREATE = {
    "label": "sandbox-1",
    "region": "us-ord",
    "plan": "g2-gpu-rtx4000a1-s",
    "root_pass": "Sandbox-Root-Pass-42",
    "wait_timeout": 30,
}
OPEN = {"allowed_cidrs": ["0.0.0.0/0"]}
ONE = {"allowed_cidrs": ["198.51.100.7"]}


def instance(api, **extra):
    return run_linode_module("linode_gpu_instance", api, dict(CREATE, **extra))


def absent(api, label="sandbox-1", **extra):
    return run_linode_module("linode_gpu_instance", api, dict({"label": label, "state": "absent"}, **extra))


def posts(api, path):
    return [r for r in api.writes() if r["method"] == "POST" and r["path"] == path]


# --- ownership -----------------------------------------------------------------------------------
@pytest.mark.parametrize("tags", [[], ["production", "db"]])
def test_present_never_adopts_a_linode_that_is_not_a_sandbox(linode_api, tags):
    other = linode_api.add_instance("sandbox-1", tags=tags, status="running")
    result = instance(linode_api, firewall=OPEN)
    assert result["failed"]
    assert result["msg"].startswith(
        "refusing to adopt Linode %d labelled 'sandbox-1' (tags: %s): it has no 'ai-sandbox' tag"
        % (other["id"], ", ".join("'%s'" % t for t in sorted(tags)) or "none")
    )
    assert linode_api.writes() == []


def test_absent_never_deletes_a_linode_that_is_not_a_sandbox(linode_api):
    other = linode_api.add_instance("sandbox-1", tags=["production"], status="running")
    for check_mode in (True, False):
        result = absent(linode_api, _ansible_check_mode=check_mode)
        assert result["failed"]
        assert "refusing to delete Linode %d labelled 'sandbox-1' (tags: 'production')" % other["id"] in result["msg"]
    assert linode_api.writes() == []
    assert list(linode_api.instances) == [other["id"]]


def test_a_firewall_with_the_label_that_is_not_ours_is_never_touched(linode_api):
    status, firewall = _call(linode_api, "POST", "/networking/firewalls", {"label": "sandbox-1-firewall", "rules": {}})
    assert status == 200
    result = instance(linode_api, firewall=OPEN)
    assert result["failed"]
    assert "refusing to adopt firewall %d labelled 'sandbox-1-firewall' (tags: none)" % firewall["id"] in result["msg"]
    assert linode_api.instances == {}
    # Our instance goes; their firewall stays, with a warning naming it.
    linode_api.add_instance("sandbox-1", tags=["ai-sandbox"], status="running")
    gone = absent(linode_api)
    assert gone["changed"] and linode_api.instances == {}
    assert list(linode_api.firewalls) == [firewall["id"]]
    assert "refusing to delete firewall %d" % firewall["id"] in json.dumps(gone["warnings"])


def test_our_firewall_that_also_guards_another_linode_is_left(linode_api):
    ours = instance(linode_api, firewall=OPEN)
    other = linode_api.add_instance("web-1", tags=["web"], status="running")
    linode_api.firewalls[ours["firewall_id"]]["_devices"].append(other["id"])
    gone = absent(linode_api)
    assert gone["changed"] and list(linode_api.instances) == [other["id"]]
    assert ours["firewall_id"] in linode_api.firewalls
    assert "also protects Linode(s) %d: it was left as it is" % other["id"] in json.dumps(gone["warnings"])


# --- the firewall's rules ------------------------------------------------------------------------
def test_moving_allowed_cidrs_to_one_address_updates_the_rules(linode_api):
    first = instance(linode_api, firewall=OPEN)
    firewall_id = first["firewall_id"]
    check = instance(linode_api, firewall=ONE, _ansible_check_mode=True, _ansible_diff=True)
    assert check["changed"]
    assert check["diff"]["before"]["firewall"]["rules"]["inbound"][0]["addresses"] == {"ipv4": ["0.0.0.0/0"]}
    assert check["diff"]["after"]["firewall"]["rules"]["inbound"][0]["addresses"] == {"ipv4": ["198.51.100.7/32"]}
    assert linode_api.firewalls[firewall_id]["rules"]["inbound"][0]["addresses"] == {"ipv4": ["0.0.0.0/0"]}
    changed = instance(linode_api, firewall=ONE, _ansible_diff=True)
    assert changed["changed"] and changed["firewall_id"] == firewall_id
    rules = linode_api.firewalls[firewall_id]["rules"]
    assert rules["inbound"][0]["addresses"] == {"ipv4": ["198.51.100.7/32"]}
    assert rules["inbound_policy"] == "DROP" and rules["version"] == 2
    assert instance(linode_api, firewall=ONE)["changed"] is False
    assert len(linode_api.firewalls) == 1 and len(linode_api.instances) == 1


def test_ports_and_a_disabled_firewall_are_reconciled(linode_api):
    first = instance(linode_api, firewall=ONE)
    firewall = linode_api.firewalls[first["firewall_id"]]
    firewall["status"] = "disabled"
    result = instance(linode_api, firewall=dict(ONE, ports=[22, 8000]))
    assert result["changed"]
    assert firewall["status"] == "enabled" and firewall["rules"]["inbound"][0]["ports"] == "22,8000"


def test_a_firewall_is_attached_to_an_existing_instance_through_its_devices(linode_api):
    made = instance(linode_api)
    assert "firewall_id" not in made
    # The firewall is made with the instance as its device (one call, never an orphan).
    result = instance(linode_api, firewall=ONE)
    assert result["changed"]
    assert linode_api.firewalls[result["firewall_id"]]["_devices"] == [made["instance"]["id"]]
    # A firewall of ours that lost its device is attached again with POST .../devices.
    linode_api.firewalls[result["firewall_id"]]["_devices"] = []
    again = instance(linode_api, firewall=ONE)
    assert again["changed"]
    assert posts(linode_api, "/networking/firewalls/%d/devices" % result["firewall_id"])
    assert linode_api.firewalls[result["firewall_id"]]["_devices"] == [made["instance"]["id"]]
    assert instance(linode_api, firewall=ONE)["changed"] is False


def test_without_the_firewall_option_an_existing_firewall_is_left_and_reported(linode_api):
    made = instance(linode_api, firewall=ONE)
    again = instance(linode_api)
    assert again["changed"] is False and again["firewall_id"] == made["firewall_id"]
    assert linode_api.firewalls[made["firewall_id"]]["rules"]["inbound"][0]["addresses"] == {
        "ipv4": ["198.51.100.7/32"]
    }


# --- a failed create leaves nothing --------------------------------------------------------------
def test_a_refused_create_deletes_the_firewall_made_for_it(linode_api):
    linode_api.inject("POST", r"^/linode/instances$", 400, reason="Password does not meet strength requirement")
    result = instance(linode_api, firewall=ONE)
    assert result["failed"]
    assert result["msg"].startswith("Linode API 400: Password does not meet strength requirement; the firewall ")
    assert result["msg"].endswith("was deleted: nothing is left")
    assert linode_api.instances == {} and linode_api.firewalls == {}


def test_a_create_that_keeps_failing_leaves_nothing(linode_api):
    linode_api.inject("POST", r"^/linode/instances$", 503, count=10, retry_after=0)
    result = instance(linode_api, firewall=ONE, api_retries=2)
    assert result["failed"] and "gave up after 2 retries" in result["msg"]
    assert linode_api.instances == {} and linode_api.firewalls == {}


def test_a_half_made_instance_is_deleted_with_its_firewall(linode_api):
    """The create worked but reading the new instance keeps failing: the module fails, and deletes what
    it made rather than leave a billed GPU Linode it reported as failed."""
    linode_api.inject("GET", r"^/linode/instances/\d+$", 500, count=99, retry_after=0)
    result = instance(linode_api, firewall=ONE, api_retries=1)
    assert result["failed"]
    assert result["msg"].startswith("Linode API 500: Internal Server Error (gave up after 1 retries); the instance ")
    assert "made anyway was deleted, the firewall" in result["msg"] and result["msg"].endswith("nothing is left")
    assert linode_api.instances == {} and linode_api.firewalls == {}
    assert len(posts(linode_api, "/linode/instances")) == 1


def test_an_instance_made_although_its_answer_was_lost_is_found_not_made_twice(linode_api):
    linode_api.inject("POST", r"^/linode/instances$", 500, after=True, retry_after=0)
    result = instance(linode_api, firewall=ONE)
    assert result["changed"] and result["instance"]["status"] == "running"
    assert len(posts(linode_api, "/linode/instances")) == 1
    assert len(linode_api.instances) == 1
    assert linode_api.firewalls[result["firewall_id"]]["_devices"] == [result["instance"]["id"]]


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_a_connection_reset_on_create_makes_one_instance(linode_api, after):
    linode_api.inject("POST", r"^/linode/instances$", "reset", after=after)
    linode_api.inject("POST", r"^/networking/firewalls$", "reset", after=after)
    result = instance(linode_api, firewall=ONE)
    assert result["changed"], result
    assert len(linode_api.instances) == 1 and len(linode_api.firewalls) == 1
    assert len(posts(linode_api, "/linode/instances")) == (1 if after else 2)


def test_a_slow_answer_to_a_create_is_looked_up_not_repeated(linode_api):
    linode_api.inject("POST", r"^/linode/instances$", 200, after=True, delay=2.5)
    result = instance(linode_api, api_timeout=1)
    assert result["changed"], result
    assert len(posts(linode_api, "/linode/instances")) == 1 and len(linode_api.instances) == 1


# --- retries in the client -----------------------------------------------------------------------
def client(api, retries=5):
    waits = []
    return common.SandboxClient(LINODE_TOKEN, api.url, retries, sleep=waits.append, timeout=1), waits


def test_retry_after_is_honoured_up_to_its_cap(linode_api):
    sandbox, waits = client(linode_api)
    linode_api.inject("GET", r"^/profile$", 429, count=2, retry_after=3600)
    linode_api.inject("GET", r"^/regions$", 429, count=1, retry_after=7)
    sandbox.get("/profile")
    sandbox.get("/regions")
    assert waits == [common.RETRY_AFTER_CAP, common.RETRY_AFTER_CAP, 7.0] == [60.0, 60.0, 7.0]


def test_5xx_and_network_errors_back_off_and_give_up(linode_api):
    sandbox, waits = client(linode_api, retries=3)
    linode_api.inject("GET", r"^/profile$", 502, count=2)
    assert sandbox.get("/profile")["username"] == "sandbox-tester"
    linode_api.inject("GET", r"^/regions$", "reset", count=1)
    linode_api.inject("GET", r"^/regions$", 200, count=1, delay=1.5)
    assert sandbox.get_all("/regions")
    assert waits == [1.0, 2.0, 1.0, 2.0]
    linode_api.inject("GET", r"^/linode/types$", 500, count=99)
    with pytest.raises(common.LinodeError) as failure:
        sandbox.get_all("/linode/types")
    assert failure.value.message == "Linode API 500: Internal Server Error (gave up after 3 retries)"
    assert waits[4:] == [1.0, 2.0, 4.0]
    assert [common.backoff(n) for n in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_write_that_may_have_happened_is_not_repeated_without_a_lookup(linode_api):
    sandbox, waits = client(linode_api)
    linode_api.inject("POST", r"^/linode/stackscripts$", "reset", after=True)
    with pytest.raises(common.LinodeError) as failure:
        sandbox.post(
            "/linode/stackscripts", {"label": "x-1", "script": "#!/bin/sh\n", "images": ["linode/ubuntu22.04"]}
        )
    assert "connection reset or closed before an answer (not repeated" in failure.value.message
    assert waits == [] and len(posts(linode_api, "/linode/stackscripts")) == 1
    # A 429 means nothing was done: repeated without a lookup.
    linode_api.inject("POST", r"^/linode/stackscripts$", 429, retry_after=0)
    sandbox.post("/linode/stackscripts", {"label": "x-2", "script": "#!/bin/sh\n", "images": ["linode/ubuntu22.04"]})
    assert len(linode_api.stackscripts) == 2


def test_a_refused_connection_is_retried_with_backoff(unused_port):
    waits = []
    sandbox = common.SandboxClient("t", "http://127.0.0.1:%d/v4" % unused_port, 2, sleep=waits.append)
    with pytest.raises(common.LinodeError) as failure:
        sandbox.post("/linode/instances", {})
    assert failure.value.message.endswith(": connection refused (gave up after 2 retries)")
    assert waits == [1.0, 2.0]


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- inputs are checked before the first call ----------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"label": "sandbox-1\n"}, "label: 'sandbox-1\\n' is not a Linode label; it must be 3 to 64 letters"),
        ({"label": "sand--box"}, "label: 'sand--box' is not a Linode label"),
        ({"label": "sand__box"}, "label: 'sand__box' is not a Linode label"),
        ({"label": "1-sandbox"}, "label: '1-sandbox' is not a Linode label"),
        ({"label": "a" * 65}, "label: 'aaaa"),
        (
            {"label": "a-very-long-sandbox-name", "firewall": ONE},
            "label: 'a-very-long-sandbox-name' has 24 characters; with a firewall it may have at most 23",
        ),
        ({"plan": "g2-gpu-rtx4000a1-s\n"}, "plan: 'g2-gpu-rtx4000a1-s\\n' is not an RTX 4000 Ada plan"),
        ({"image": "linode/ubuntu22.04\n"}, "image: 'linode/ubuntu22.04\\n' is not an image the sandbox supports"),
        ({"firewall": {"allowed_cidrs": ["203.0.113.7/32\n"]}}, "firewall.allowed_cidrs: '203.0.113.7/32\\n' is not"),
        ({"firewall": {"allowed_cidrs": ["fe80::1%eth0/128"]}}, "firewall.allowed_cidrs: 'fe80::1%eth0/128' is not"),
        ({"firewall": dict(ONE, ports=[0])}, "firewall.ports: 0 is out of range; expected a whole number from 1 to"),
        ({"tags": ["ok-tag", "bad\ntag"]}, "tags: 'bad\\ntag' is refused; expected 3 to 50 characters"),
        ({"stackscript_data": {"x; rm": "1"}}, "stackscript_data key: 'x; rm' is not a StackScript field name"),
        (
            {"authorized_keys": ["ssh-ed25519 AAAA\nssh-rsa B"]},
            "authorized_keys: 'ssh-ed25519 AAAA\\nssh-rsa B' is not",
        ),
        ({"api_url": "http://api.example.com/v4"}, "api_url: 'http://api.example.com/v4' is not a URL this collection"),
        ({"api_url": "https://me:pw@api.linode.com/v4"}, "api_url: 'https://***@api.linode.com/v4' is not"),
        ({"api_retries": 99}, "api_retries: 99 is out of range; expected a whole number from 0 to 10"),
    ],
)
def test_inputs_are_refused_before_any_call(linode_api, extra, message):
    args = dict(CREATE, api_url=linode_api.url, api_token=LINODE_TOKEN)
    args.update(extra)
    result = run_module("linode_gpu_instance", args)
    assert result["failed"]
    assert message in result["msg"], result["msg"]
    assert linode_api.requests == []


def test_secret_refusals_never_show_the_secret(linode_api):
    for value in ("short", "x" * 129, "Good-Pass-1\nroot:x:0:0"):
        result = instance(linode_api, root_pass=value)
        assert result["msg"].startswith("root_pass: the password given (hidden, %d characters) is refused" % len(value))
        assert value not in json.dumps(result)
    result = run_linode_module("linode_gpu_instance", linode_api, dict(CREATE), token="tok en\nX-Evil: 1")
    assert result["msg"].startswith("api_token: the token given (hidden, 16 characters) is not a Linode token")
    assert "X-Evil" not in json.dumps(result)
    assert linode_api.requests == []


def _call(api, method, path, body):
    import urllib.request

    request = urllib.request.Request(
        api.url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer %s" % LINODE_TOKEN, "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request) as response:
        return response.status, json.loads(response.read())
