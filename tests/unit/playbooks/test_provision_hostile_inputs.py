"""Every value of the hostile-input corpus (tests/unit/hostile_inputs.yml) in every answer of
provision.yml, against the Linode API emulator and the Hugging Face Hub stand-in.

Each value is refused with a message naming the answer before Linode is asked anything (so nothing is
created or billed), or proven inert: provision.yml then creates the sandbox and the value reaches it
exactly as given (or means what an empty answer means), or it is refused by name before any write.
No value runs a command, and no token or URL credential is shown.

To stay fast, the grouped phase runs provision.yml's first tasks (the token check and the check of
every answer, which come before anything else: test_the_first_check_takes_every_answer) once per
value in one ansible-playbook process, with the play's own variables and module defaults, the value
in every answer (tagged !unsafe where it could be a template, so that Ansible keeps it literal as it
does `-e @answers.yml` with !unsafe; plain -e values are Ansible templates). Every answer a value
passes is then proven inert by a whole provision.yml run. Values typed at the prompts are data
already (Ansible never renders a prompt's answer): one run on a pseudo-terminal shows it."""

import ipaddress
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import hostile_inputs
import pexpect
import pytest
import yaml
from conftest import COLLECTION_ROOT, LINODE_TOKEN

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
PROVISION = os.path.join(COLLECTION_ROOT, "playbooks", "provision.yml")
VALUES = hostile_inputs.values()
TINY = "oneclick-testbed/tiny-chat"
ANSWERS = [
    "label",
    "region",
    "plan",
    "image",
    "model",
    "hf_token",
    "hf_endpoint",
    "allowed_cidrs",
    "repo_url",
    "repo_ref",
    "insecure_repo_url",
    "ui_auth",
    "wait_for_api",
    "hub_check",
]
HUB_CHECKED = {"model", "hf_token"}
PROOFS = iter(range(1000000))
FATAL = re.compile(r"^fatal: \[localhost\]: FAILED! => (\{.*\})$", re.MULTILINE)


def environment(api, hub, home):
    env = dict(os.environ)
    env.pop("HF_TOKEN", None)
    env.update(
        LINODE_TOKEN=LINODE_TOKEN,
        LINODE_API_URL=api.url,
        HF_ENDPOINT=hub,
        HOME=str(home),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(home / ".ansible-tmp"),
    )
    return env


def provision_play():
    with open(PROVISION) as handle:
        (play,) = yaml.safe_load(handle)
    return play


def first_checks():
    """provision.yml's tasks before the first one that asks Linode anything."""
    tasks = provision_play()["tasks"]
    first = next(n for n, t in enumerate(tasks) if "oneclick.ai_sandbox.linode_gpu_plans_info" in t)
    return tasks[:first]


def run_first_checks(api, hub, directory, cases):
    """provision.yml's first checks once per case, in one process: {case number: failure} (passed: absent).

    The token check runs once; then, per case, the answers are loaded as variables from a file (kept
    literal, as -e @file does) and provision.yml's check of the answers runs as written."""
    play = provision_play()
    token_check, answers_check = first_checks()
    tasks = [token_check]
    for number, answers in enumerate(cases):
        path = directory / ("case-%d.yml" % number)
        path.write_text(hostile_inputs.yaml_unsafe(answers))
        tasks.append({"name": "Case %d" % number, "ansible.builtin.include_vars": str(path)})
        tasks.append(dict(answers_check, register="sandbox_case_%d" % number, ignore_errors=True))
    results = directory / "results.json"
    everything = ", ".join("sandbox_case_%d" % n for n in range(len(cases)))
    tasks.append(
        {
            "name": "Write the results",
            "ansible.builtin.copy": {"content": "{{ [%s] | to_json }}" % everything, "dest": str(results)},
        }
    )
    wrapper = {
        "name": "The first checks of provision.yml, once per case",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": play["vars"],
        "module_defaults": play["module_defaults"],
        "tasks": tasks,
    }
    path = directory / "first-checks.yml"
    path.write_text(yaml.safe_dump([wrapper], sort_keys=False))
    result = subprocess.run(
        [PLAYBOOK, str(path)],
        env=environment(api, hub, directory),
        capture_output=True,
        text=True,
        check=False,
        cwd=str(directory),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    checked = json.loads(results.read_text())
    assert len(checked) == len(cases)
    return {n: r for n, r in enumerate(checked) if r.get("failed")}, result.stdout + result.stderr


def run_provision(api, hub, directory, answers):
    """A whole provision.yml run with these answers (-e @answers.yml); its output."""
    path = directory / "answers.yml"
    path.write_text(hostile_inputs.yaml_unsafe(answers))
    result = subprocess.run(
        [PLAYBOOK, PROVISION, "-e", "@" + str(path)],
        env=environment(api, hub, directory),
        capture_output=True,
        text=True,
        check=False,
        cwd=str(directory),
    )
    return result.stdout + result.stderr


def failure(chunk):
    found = FATAL.findall(chunk)
    return json.loads(found[-1]) if found else None


def named(result, field):
    """Whether a failure names the answer (the first check lists each refused one)."""
    refused = {r["field"] for r in result.get("refusals") or []}
    return field in refused or re.search(r"(^|[ :]){}[ :]".format(re.escape(field)), result.get("msg", "")) is not None


@pytest.fixture(scope="module")
def outcome(tmp_path_factory, hf_hub):
    """Both phases, once: every value through the first checks, then the proofs of what a value passed."""
    sys.path.insert(0, os.path.join(COLLECTION_ROOT, "tests", "standins", "linode_api"))
    from emulator import Emulator

    api = Emulator(token=LINODE_TOKEN, boot_seconds=0.5).start()
    hub = hf_hub[0]
    hostile_inputs.no_marker()
    count = len(VALUES)
    cases = []
    for number, value in enumerate(VALUES):
        answers = dict.fromkeys(ANSWERS, value)
        answers["hf_token"] = VALUES[(number + 1) % count]  # each value once as the token, shown by no other answer
        cases.append(answers)
    half = (count + 1) // 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(
            pool.map(
                lambda job: run_first_checks(api, hub, tmp_path_factory.mktemp(job[0]), job[1]),
                [("first", cases[:half]), ("second", cases[half:])],
            )
        )
    failures = dict(parts[0][0])
    failures.update({number + half: result for number, result in parts[1][0].items()})
    grouped = {"failures": failures, "output": parts[0][1] + parts[1][1], "requests": len(api.requests)}

    passed = []  # (answer, value) that the first checks did not refuse
    for number, answers in enumerate(cases):
        result = failures.get(number) or {}
        passed += [(name, answers[name]) for name in ANSWERS if not named(result, name)]

    # Proofs: a whole provision.yml run with the value in that answer and good other answers. Answers
    # that only this machine checks share a run (one value each); the model and the token, which the
    # Hub may refuse, get their own; a shared run that failed is run again one answer at a time.
    packs = []
    for name, value in passed:
        pack = next(
            (p for p in packs if name not in p and name not in HUB_CHECKED and not p.keys() & HUB_CHECKED), None
        )
        if pack is None:
            packs.append({name: value})
        else:
            pack[name] = value

    def prove(pack):
        number = next(PROOFS)
        answers = {"label": "inert-%d" % number, "region": "us-ord", "plan": "g2-gpu-rtx4000a1-s", "model": TINY}
        answers["allowed_cidrs"] = ""
        answers.update(pack)
        return answers, run_provision(api, hub, tmp_path_factory.mktemp("proof"), answers)

    proofs = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        again = []
        for pack, proof in zip(packs, pool.map(prove, packs), strict=True):
            if failure(proof[1]) is not None and len(pack) > 1:
                again += [{name: value} for name, value in pack.items()]
            else:
                proofs.update(dict.fromkeys(pack.items(), proof))
        for pack, proof in zip(again, pool.map(prove, again), strict=True):
            proofs.update(dict.fromkeys(pack.items(), proof))
    yield {
        "api": api,
        "cases": cases,
        "grouped": grouped,
        "passed": passed,
        "proofs": proofs,
        "marker": hostile_inputs.no_marker(),
    }
    api.stop()


def test_the_first_check_takes_every_answer():
    """Before the first call to Linode provision.yml only checks that a token is set and checks every
    answer given on the command line."""
    tasks = first_checks()
    assert [list(t)[1] for t in tasks] == ["ansible.builtin.assert", "oneclick.ai_sandbox.linode_sandbox_request"]
    expression = tasks[1]["oneclick.ai_sandbox.linode_sandbox_request"]["answers"]
    assert sorted(re.findall(r"'(\w+)': (\w+) \|", expression)) == sorted((name, name) for name in ANSWERS)


# The answers that the first check lets a corpus value through, and why: each is a valid value of its
# kind, then proven inert or refused by the Hub. A value not listed here that passes is a hole.
EXPECTED_TO_PASS = {
    ("hf_token", ""): "an empty token means no token",
    ("allowed_cidrs", ""): "no network means no firewall (the playbook warns)",
    ("allowed_cidrs", "   "): "spaces around commas are allowed: no network",
    ("label", "null"): "a valid Linode label",
    ("label", "main.lock"): "a valid Linode label",
    ("repo_ref", "null"): "a valid branch name",
    ("repo_ref", "0x1F"): "a valid branch name",
    ("repo_ref", "a-" * 40 + "a"): "a valid branch name",
    ("repo_ref", "mistralai/" + "M" * 200): "a valid branch name",
    ("repo_ref", "203.0.113.7/33"): "a valid branch name",
    ("model", "203.0.113.7/33"): "the form of a model id: the Hub says no such model",
}


def test_only_valid_values_of_their_kind_pass_the_first_check(outcome):
    assert set(outcome["passed"]) == set(EXPECTED_TO_PASS)
    output = outcome["proofs"][("model", "203.0.113.7/33")][1]
    assert "model: 203.0.113.7/33 does not exist on http://127.0.0.1:" in failure(output)["msg"]


def test_the_grouped_runs_asked_linode_nothing(outcome):
    """Every value was refused by the first check, before any call to Linode (nothing read, nothing made)."""
    assert outcome["grouped"]["requests"] == 0
    assert sorted(outcome["grouped"]["failures"]) == list(range(len(VALUES)))
    for result in outcome["grouped"]["failures"].values():
        assert result["msg"].startswith("Refused before anything was created or billed: ")
        assert result["refusals"]


@pytest.mark.parametrize("number", range(len(VALUES)), ids=hostile_inputs.ids())
def test_each_value_is_refused_by_name_or_proven_inert(outcome, number):
    answers = outcome["cases"][number]
    result = outcome["grouped"]["failures"][number]
    shown = json.dumps(result)
    for refusal in result["refusals"]:
        assert refusal["message"].startswith(refusal["field"] + ": "), refusal
        assert refusal["field"] in ANSWERS
    token = answers["hf_token"]
    if len(token) >= 8 and token not in answers["label"]:
        assert token not in shown, "the token given is shown"
    for name in ANSWERS:
        value = answers[name]
        userinfo = re.match(r"[a-z]+://([^/?#@]+)@", value)
        if userinfo and name != "hf_token" and userinfo.group(1) not in token:
            assert userinfo.group(1) not in shown, "a URL's credentials are shown"
        if not named(result, name):
            proof_answers, output = outcome["proofs"][(name, value)]
            inert(outcome["api"], name, value, proof_answers, output)


def inert(api, name, value, answers, output):
    """A value an answer passed: refused later by name before anything was made (the Hub), or the
    sandbox was made with it exactly as given."""
    result = failure(output)
    label = answers["label"]
    made = [i for i in api.instances.values() if i["label"] == label]
    if result is not None:
        assert named(result, name), "%s=%r: refused without naming it: %s" % (name, value, result.get("msg"))
        assert made == [], "%s=%r was refused after the Linode was made" % (name, value)
        return
    assert len(made) == 1, "%s=%r: the sandbox was not made: %s" % (name, value, output[-2000:])
    instance = made[0]
    data = instance["_stackscript_data"]
    firewall = [f for f in api.firewalls.values() if f["label"] == label + "-firewall"]
    stored = {
        "label": lambda: instance["label"] == value and "ai-sandbox" in instance["tags"],
        "region": lambda: instance["region"] == value,
        "plan": lambda: instance["type"] == value,
        "image": lambda: instance["image"] == value,
        "model": lambda: data["model_id"] == value,
        "hf_token": lambda: data["hf_token_password"] == value,
        "repo_url": lambda: data["repo_url"] == value,
        "repo_ref": lambda: data["repo_ref"] == value,
        "ui_auth": lambda: data["ui_auth"] in ("yes", "no"),
        "allowed_cidrs": lambda: (
            firewall == []
            if value.strip(" ,") == ""
            else sorted(firewall[0]["rules"]["inbound"][0]["addresses"].get("ipv4", []))
            == sorted(str(ipaddress.ip_network(v.strip(" "), strict=False)) for v in value.split(",") if v.strip(" "))
        ),
    }
    assert stored.get(name, lambda: True)(), "%s=%r did not reach the sandbox as given: %s" % (name, value, data)


def test_no_value_ran_a_command(outcome):
    assert outcome["marker"], "a value ran a command (%s appeared)" % hostile_inputs.MARKER
    assert "Traceback" not in outcome["grouped"]["output"]


def test_the_malformed_model_ids_of_the_issue_are_refused_by_name(outcome):
    for value in ("$(touch /tmp/oneclick-hostile-marker)", "mistralai/Mistral-7B-Instruct-v0.3\n"):
        result = outcome["grouped"]["failures"][VALUES.index(value)]
        (refusal,) = [r for r in result["refusals"] if r["field"] == "model"]
        assert refusal["message"] == (
            "model: %s is not a Hugging Face model id; expected <owner>/<name>, e.g. mistralai/Mistral-7B-Instruct-v0.3"
            % ascii(value)
        )


def test_values_typed_at_the_prompts_stay_data(linode_api, hf_hub, tmp_path):
    """A prompt's answer is never rendered: the Jinja that would run a command is refused as text."""
    jinja = "{{ lookup('ansible.builtin.pipe', 'touch /tmp/oneclick-hostile-marker') }}"
    hostile_inputs.no_marker()
    env = environment(linode_api, hf_hub[0], tmp_path)
    child = pexpect.spawn(PLAYBOOK, [PROVISION], env=env, cwd=str(tmp_path), encoding="utf-8", timeout=120)
    for prompt, answer in (
        (r"Region \(number or id\)", "1"),
        (r"Plan \(number or id\)", ""),
        (r"Hugging Face model id", jinja),
        (
            r"Hugging Face token \(empty for open models\)",
            jinja + "-as-token",
        ),  # another value: a token is masked wherever it appears
        (r"comma-separated CIDRs", jinja),
    ):
        child.expect(prompt)
        child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    output = child.before.replace("\r\n", "\n")
    assert child.exitstatus != 0
    result = failure(output)
    refused = {r["field"]: r["message"] for r in result["refusals"]}
    assert sorted(refused) == ["allowed_cidrs", "hf_token", "model"]
    assert refused["model"].startswith(
        "model: %s... (74 characters) is not a Hugging Face model id" % ascii(jinja[:60])
    )
    assert hostile_inputs.no_marker()
    assert list(linode_api.writes()) == []
