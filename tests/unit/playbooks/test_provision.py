"""provision.yml and destroy.yml against the Linode API emulator and the Hugging Face Hub stand-in:
with -e, without a terminal, and through their prompts on a real pseudo-terminal."""

import os
import subprocess
import sys

import hostile_inputs
import pexpect
import pytest
from conftest import COLLECTION_ROOT, LINODE_TOKEN, run_module

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
HF_TOKEN = "hf_testbed_granted"  # granted the gated models of the Hub stand-in (tokens.json)
TINY = "oneclick-testbed/tiny-chat"  # an open model on the Hub stand-in
HUB = {}


@pytest.fixture(autouse=True)
def hub(hf_hub):
    """Every playbook run asks the Hub stand-in (HF_ENDPOINT), never the real Hub."""
    HUB["endpoint"] = hf_hub[0]
    return hf_hub[0]


def environment(api, tmp_path):
    env = dict(os.environ)
    env.pop("HF_TOKEN", None)
    env.update(
        LINODE_TOKEN=LINODE_TOKEN,
        LINODE_API_URL=api.url,
        HF_ENDPOINT=HUB["endpoint"],
        HOME=str(tmp_path),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-tmp"),
    )
    return env


def play(api, tmp_path, name, *extra, stdin=subprocess.DEVNULL, options=(), env=None):
    command = [PLAYBOOK, os.path.join(COLLECTION_ROOT, "playbooks", name + ".yml"), *options]
    for item in extra:
        if isinstance(item, dict):  # answers kept literal: -e @file with !unsafe where needed
            path = tmp_path / ("answers-%d.yml" % len(list(tmp_path.glob("answers-*.yml"))))
            path.write_text(hostile_inputs.yaml_unsafe(item))
            item = "@" + str(path)
        command += ["-e", item]
    return subprocess.run(
        command,
        env=dict(environment(api, tmp_path), **(env or {})),
        capture_output=True,
        text=True,
        stdin=stdin,
        check=False,
        cwd=str(tmp_path),
    )


def test_every_answer_by_e(linode_api, tmp_path):
    answers = (
        "label=sb-auto",
        "region=de-fra-2",
        "plan=g2-gpu-rtx4000a2-s",
        "hf_token=" + HF_TOKEN,
        "allowed_cidrs=203.0.113.0/24,2001:db8::/32",
        "repo_url=https://git.example.com/fork/ai_sandbox.git",
        "repo_ref=v0.1.0",
    )
    result = play(linode_api, tmp_path, "provision", *answers)
    assert result.returncode == 0, result.stdout[-3000:]
    (instance,) = linode_api.instances.values()
    assert (instance["label"], instance["region"], instance["type"]) == ("sb-auto", "de-fra-2", "g2-gpu-rtx4000a2-s")
    assert instance["_stackscript_data"] == {
        "model_id": "mistralai/Mistral-7B-Instruct-v0.3",
        "hf_token_password": HF_TOKEN,
        "ui_auth": "no",
        "repo_url": "https://git.example.com/fork/ai_sandbox.git",
        "repo_ref": "v0.1.0",
    }
    (stackscript,) = linode_api.stackscripts.values()
    assert stackscript["label"] == "ai-sandbox" and stackscript["script"].startswith("#!/usr/bin/env bash")
    (firewall,) = linode_api.firewalls.values()
    assert firewall["rules"]["inbound"][0]["addresses"] == {"ipv4": ["203.0.113.0/24"], "ipv6": ["2001:db8::/32"]}
    assert "Chat UI:         http://%s:3000" % instance["ipv4"][0] in result.stdout
    assert "OpenAI API base: http://%s:8000/v1" % instance["ipv4"][0] in result.stdout
    password = tmp_path / ".config" / "ai-sandbox" / "sb-auto.root_pass"
    assert password.exists() and oct(password.stat().st_mode & 0o077) == "0o0"
    for secret in (LINODE_TOKEN, HF_TOKEN, password.read_text().strip()):
        assert secret not in result.stdout + result.stderr
    again = play(linode_api, tmp_path, "provision", *answers)
    assert again.returncode == 0 and "changed=0" in again.stdout


def test_without_a_terminal_the_defaults_apply(linode_api, tmp_path):
    result = play(linode_api, tmp_path, "provision", "hf_token=" + HF_TOKEN)
    assert result.returncode == 0, result.stdout[-3000:]
    (instance,) = linode_api.instances.values()
    assert (instance["label"], instance["region"], instance["type"]) == ("ai-sandbox-1", "us-ord", "g2-gpu-rtx4000a1-s")
    assert linode_api.firewalls == {}
    assert "WARNING: no firewall" in result.stdout


def test_without_a_terminal_a_missing_token_fails_clearly(linode_api, tmp_path):
    result = play(linode_api, tmp_path, "provision")
    assert result.returncode != 0
    assert "hf_token is required: mistralai/Mistral-7B-Instruct-v0.3 is a gated model" in result.stdout
    assert linode_api.writes() == []


def test_open_model_needs_no_token(linode_api, tmp_path):
    result = play(linode_api, tmp_path, "provision", "model=" + TINY)
    assert result.returncode == 0, result.stdout[-3000:]
    (instance,) = linode_api.instances.values()
    assert instance["_stackscript_data"]["model_id"] == TINY


def test_sold_out_region_is_refused_with_the_choices(linode_api, tmp_path):
    for plan in (
        "g2-gpu-rtx4000a1-s",
        "g2-gpu-rtx4000a1-m",
        "g2-gpu-rtx4000a1-l",
        "g2-gpu-rtx4000a2-s",
        "g2-gpu-rtx4000a4-m",
    ):
        linode_api.sell_out("jp-osa", plan)
    result = play(linode_api, tmp_path, "provision", "region=jp-osa", "hf_token=" + HF_TOKEN)
    assert result.returncode != 0
    choices = "us-ord, de-fra-2, fr-par, us-sea, sg-sin-2"
    assert "region: jp-osa has no RTX 4000 Ada plan available now; choose one of %s" % choices in result.stdout


def test_bad_cidr_names_the_value(linode_api, tmp_path):
    result = play(linode_api, tmp_path, "provision", "hf_token=" + HF_TOKEN, "allowed_cidrs=office")
    assert result.returncode != 0
    assert "allowed_cidrs: 'office' is not an IPv4 or IPv6 network" in result.stdout
    assert linode_api.requests == []


def test_prompts_on_a_terminal(linode_api, tmp_path):
    command = "%s %s" % (PLAYBOOK, os.path.join(COLLECTION_ROOT, "playbooks", "provision.yml"))
    child = pexpect.spawn(
        command, env=environment(linode_api, tmp_path), cwd=str(tmp_path), encoding="utf-8", timeout=120
    )
    child.expect(r"2\) de-fra-2 - Frankfurt 2, DE")
    child.expect(r"Region \(number or id\) \[1\]")
    child.sendline("2")
    child.expect(r"g2-gpu-rtx4000a2-s: 2 GPU \(40 GB GPU memory\), 8 vCPUs, 32 GB RAM, \$1.04/h")
    child.expect(r"Plan \(number or id\) \[1\]")
    child.sendline("g2-gpu-rtx4000a2-s")
    child.expect(r"Hugging Face model id \[mistralai/Mistral-7B-Instruct-v0.3\]")
    child.sendline("")
    child.expect(r"Hugging Face token \(required: the model is gated\)")
    child.sendline(HF_TOKEN)
    child.expect(r"comma-separated CIDRs")
    child.sendline("198.51.100.7/32")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before[-3000:]
    (instance,) = linode_api.instances.values()
    assert (instance["region"], instance["type"]) == ("de-fra-2", "g2-gpu-rtx4000a2-s")
    assert instance["_stackscript_data"]["hf_token_password"] == HF_TOKEN
    assert HF_TOKEN not in child.before


def test_destroy_asks_and_deletes_only_when_confirmed(linode_api, tmp_path):
    play(linode_api, tmp_path, "provision", "label=sb-gone", "hf_token=" + HF_TOKEN, "allowed_cidrs=203.0.113.0/24")
    refused = play(linode_api, tmp_path, "destroy", "label=sb-gone")
    assert refused.returncode != 0
    assert "Not confirmed: nothing was deleted" in refused.stdout
    assert len(linode_api.instances) == 1
    deleted = play(linode_api, tmp_path, "destroy", "label=sb-gone", "confirm=yes")
    assert deleted.returncode == 0, deleted.stdout[-2000:]
    assert linode_api.instances == {} and linode_api.firewalls == {}
    nothing = play(linode_api, tmp_path, "destroy", "label=sb-gone", "confirm=yes")
    assert nothing.returncode == 0 and "nothing to delete" in nothing.stdout
    assert play(linode_api, tmp_path, "destroy").returncode != 0


# --- refusals before anything is created or billed ----------------------------------------------
def test_the_issues_malformed_model_ids_create_no_linode(linode_api, tmp_path):
    for model in ("$(touch /tmp/pwned)", "mistralai/Mistral-7B-Instruct-v0.3\n"):
        result = play(linode_api, tmp_path, "provision", {"model": model, "hf_token": HF_TOKEN})
        assert result.returncode != 0
        expected = "model: %s is not a Hugging Face model id; expected <owner>/<name>" % ascii(model)
        assert expected.replace("\\", "\\\\") in result.stdout, result.stdout[-2000:]
    assert linode_api.requests == [] and linode_api.instances == {}


def test_a_repo_url_with_credentials_is_refused_and_never_shown_or_logged(linode_api, tmp_path):
    log = tmp_path / "ansible.log"
    answers = {
        "repo_url": "https://deploy:glpat-s3cr3t-t0ken@git.example.com/fork/ai_sandbox.git",
        "hf_token": HF_TOKEN,
    }
    result = play(linode_api, tmp_path, "provision", answers, options=["-vvv"], env={"ANSIBLE_LOG_PATH": str(log)})
    assert result.returncode != 0
    assert "repo_url: 'https://***@git.example.com/fork/ai_sandbox.git' carries credentials" in result.stdout
    for text in (result.stdout, result.stderr, log.read_text()):
        assert "glpat-s3cr3t-t0ken" not in text and "deploy:" not in text and HF_TOKEN not in text
    assert linode_api.requests == []


def test_plain_http_repos_need_the_lab_switch(linode_api, tmp_path):
    url = "http://192.0.2.1:9418/ai_sandbox.git"
    refused = play(linode_api, tmp_path, "provision", "repo_url=" + url, "hf_token=" + HF_TOKEN)
    assert refused.returncode != 0
    assert "repo_url: %r is not an https:// repository URL" % url in refused.stdout
    assert "plain http:// needs insecure_repo_url=true" in refused.stdout
    made = play(linode_api, tmp_path, "provision", "repo_url=" + url, "insecure_repo_url=true", "model=" + TINY)
    assert made.returncode == 0, made.stdout[-2000:]
    (instance,) = linode_api.instances.values()
    assert instance["_stackscript_data"]["repo_url"] == url


@pytest.mark.parametrize(
    ("answers", "environment_", "message"),
    [
        (
            {"model": "oneclick-testbed/no-such-model"},
            {},
            "model: oneclick-testbed/no-such-model does not exist on http://127.0.0.1:",
        ),
        (
            {"model": "oneclick-testbed/gated-chat"},
            {},
            "hf_token is required: oneclick-testbed/gated-chat is a gated model on Hugging Face.",
        ),
        (
            {"model": "oneclick-testbed/gated-chat", "hf_token": "hf_testbed_not_granted"},
            {},
            "hf_token: the token given has no access to the gated model oneclick-testbed/gated-chat;",
        ),
        ({"hf_token": "hf_revoked_or_made_up"}, {}, "hf_token: the Hugging Face Hub refused the token given"),
        (
            {"model": TINY},
            {"HF_ENDPOINT": "http://127.0.0.1:9"},
            "hf_endpoint: cannot reach the Hugging Face Hub at http://127.0.0.1:9 to check the model",
        ),
    ],
    ids=["no such model", "gated, no token", "gated, no access", "token refused", "hub unreachable"],
)
def test_the_hub_refuses_before_anything_is_made(linode_api, tmp_path, answers, environment_, message):
    result = play(linode_api, tmp_path, "provision", answers, env=environment_)
    assert result.returncode != 0
    assert "Refused before anything was created or billed: " + message in result.stdout, result.stdout[-2000:]
    assert linode_api.writes() == []
    for secret in ("hf_testbed_not_granted", "hf_revoked_or_made_up"):
        assert secret not in result.stdout + result.stderr


def test_hub_check_false_leaves_the_model_to_the_first_boot(linode_api, tmp_path):
    result = play(
        linode_api, tmp_path, "provision", "model=" + TINY, "hub_check=false", env={"HF_ENDPOINT": "http://127.0.0.1:9"}
    )
    assert result.returncode == 0, result.stdout[-2000:]
    hub_task = result.stdout.split("TASK [Check the model and the token with the Hugging Face Hub")[1]
    assert hub_task.split("TASK [")[0].strip().splitlines()[-1].startswith("skipping: [localhost]")
    assert len(linode_api.instances) == 1


def test_the_controllers_preflight_does_not_weigh_its_own_disk(hf_hub, tmp_path):
    args = {"model": TINY, "endpoint": hf_hub[0], "cache_dir": str(tmp_path), "disk_margin_gb": 1e9}
    assert run_module("hf_model_info", args)["reason"] == "disk_too_small"
    assert run_module("hf_model_info", dict(args, check_disk=False))["model"]["id"] == TINY


def test_nothing_secret_reaches_the_output_or_the_log(linode_api, tmp_path):
    log = tmp_path / "ansible.log"
    answers = ("label=sb-secret", "hf_token=" + HF_TOKEN, "allowed_cidrs=203.0.113.0/24")
    result = play(
        linode_api, tmp_path, "provision", *answers, options=["-vvv", "--diff"], env={"ANSIBLE_LOG_PATH": str(log)}
    )
    assert result.returncode == 0, result.stdout[-3000:]
    password = (tmp_path / ".config" / "ai-sandbox" / "sb-secret.root_pass").read_text().strip()
    for text in (result.stdout, result.stderr, log.read_text()):
        for secret in (LINODE_TOKEN, HF_TOKEN, password):
            assert secret not in text


# --- acting only on our own Linodes, and the firewall's rules -------------------------------------
def test_destroy_never_deletes_a_linode_that_is_not_a_sandbox(linode_api, tmp_path):
    other = linode_api.add_instance("prod-db", tags=["production"], status="running")
    result = play(linode_api, tmp_path, "destroy", "label=prod-db", "confirm=yes")
    assert result.returncode != 0
    assert (
        "refusing to delete Linode %d labelled 'prod-db' (tags: 'production'): it has no 'ai-sandbox' tag" % other["id"]
    ) in result.stdout
    assert linode_api.writes() == [] and list(linode_api.instances) == [other["id"]]


def test_provision_never_adopts_a_linode_that_is_not_a_sandbox(linode_api, tmp_path):
    other = linode_api.add_instance("ai-sandbox-1", status="running")
    result = play(linode_api, tmp_path, "provision", "hf_token=" + HF_TOKEN)
    assert result.returncode != 0
    assert "refusing to adopt Linode %d labelled 'ai-sandbox-1' (tags: none)" % other["id"] in result.stdout
    assert [w["path"] for w in linode_api.writes()] == ["/linode/stackscripts"]


def test_a_rerun_with_one_address_closes_the_firewall_to_the_rest(linode_api, tmp_path):
    first = play(linode_api, tmp_path, "provision", "model=" + TINY, "allowed_cidrs=0.0.0.0/0")
    assert first.returncode == 0, first.stdout[-2000:]
    (firewall,) = linode_api.firewalls.values()
    assert firewall["rules"]["inbound"][0]["addresses"] == {"ipv4": ["0.0.0.0/0"]}
    second = play(linode_api, tmp_path, "provision", "model=" + TINY, "allowed_cidrs=198.51.100.7", options=["--diff"])
    assert second.returncode == 0, second.stdout[-2000:]
    assert "changed: [localhost]" in second.stdout.split("TASK [Create the sandbox instance]")[1]
    assert firewall["rules"]["inbound"][0]["addresses"] == {"ipv4": ["198.51.100.7/32"]}
    assert "Firewall: only 198.51.100.7/32 may connect." in second.stdout
    assert len(linode_api.instances) == 1 and len(linode_api.firewalls) == 1
    third = play(linode_api, tmp_path, "provision", "model=" + TINY, "allowed_cidrs=")
    assert third.returncode == 0 and "changed=0" in third.stdout
    assert "Firewall: the one it already has (%d) was left as it is." % firewall["id"] in third.stdout
    assert firewall["rules"]["inbound"][0]["addresses"] == {"ipv4": ["198.51.100.7/32"]}


def _golden(api, number, label):
    image = dict(api.public_image("linode/ubuntu22.04"), id="private/%d" % number, label=label, is_public=False)
    image.update(vendor=None, tags=["ai-sandbox"], description="oneclick.ai_sandbox 0.1.0", _created=0, _linode=0)
    api.images[image["id"]] = image


def test_the_newest_golden_image_is_used_and_named(linode_api, tmp_path):
    _golden(linode_api, 7, "ai-sandbox-golden-0-0-9")
    _golden(linode_api, 8, "ai-sandbox-golden-0-1-0")
    result = play(linode_api, tmp_path, "provision", "label=sb-golden", "hf_token=" + HF_TOKEN)
    assert result.returncode == 0, result.stdout[-3000:]
    (instance,) = linode_api.instances.values()
    assert instance["image"] == "private/8"
    assert "Image: private/8, the golden image ai-sandbox-golden-0-1-0" in " ".join(result.stdout.split())


def test_stock_ubuntu_without_a_golden_image_or_when_given(linode_api, tmp_path):
    result = play(linode_api, tmp_path, "provision", "label=sb-stock", "hf_token=" + HF_TOKEN)
    assert result.returncode == 0, result.stdout[-3000:]
    assert linode_api.instances[max(linode_api.instances)]["image"] == "linode/ubuntu22.04"
    assert "stock Ubuntu: no golden image" in " ".join(result.stdout.split())
    _golden(linode_api, 9, "ai-sandbox-golden-0-1-0")
    given = play(
        linode_api, tmp_path, "provision", "label=sb-given", "image=linode/ubuntu22.04", "hf_token=" + HF_TOKEN
    )
    assert given.returncode == 0, given.stdout[-3000:]
    assert linode_api.instances[max(linode_api.instances)]["image"] == "linode/ubuntu22.04"
    assert "(given with -e image)" in given.stdout


def test_images_that_cannot_be_listed_mean_stock_ubuntu_and_say_why(linode_api, tmp_path):
    linode_api.inject(
        "GET", r"^/images", 401, count=20, reason="Your OAuth token is not authorized to use this endpoint."
    )
    result = play(linode_api, tmp_path, "provision", "label=sb-noscope", "hf_token=" + HF_TOKEN)
    assert result.returncode == 0, result.stdout[-3000:]
    assert linode_api.instances[max(linode_api.instances)]["image"] == "linode/ubuntu22.04"
    assert "your images could not be listed: Linode API 401" in " ".join(result.stdout.split())
