"""provision.yml and destroy.yml against the Linode API emulator and the Hugging Face Hub stand-in:
with -e, without a terminal, and through their prompts on a real pseudo-terminal."""

import os
import subprocess
import sys

import pexpect
import pytest
from conftest import COLLECTION_ROOT, LINODE_TOKEN

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


def play(api, tmp_path, name, *extra, stdin=subprocess.DEVNULL):
    command = [PLAYBOOK, os.path.join(COLLECTION_ROOT, "playbooks", name + ".yml")]
    for item in extra:
        command += ["-e", item]
    return subprocess.run(
        command,
        env=environment(api, tmp_path),
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
