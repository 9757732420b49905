"""Every value of the hostile-input corpus (tests/unit/hostile_inputs.yml) in every field of the Linode
modules, against the Linode API emulator: each is refused with a message that names the field (and no
write reaches the API, and no secret is shown), or proven inert (the call works and the API stored the
value exactly as given). No value ever runs a command.

The modules run in this process (AnsibleModule reading its arguments as Ansible hands them over), so
that the whole corpus takes seconds; test_linode_gpu_instance.py runs them as processes."""

import contextlib
import io
import json
import os
import sys

import hostile_inputs
import pytest
from ansible.module_utils import basic
from conftest import LINODE_TOKEN, STANDINS

from ansible_collections.oneclick.ai_sandbox.plugins.modules import (
    linode_gpu_instance,
    linode_gpu_plans_info,
    linode_sandbox_request,
    linode_stackscript,
)

VALUES = hostile_inputs.values()
MODULES = {
    "linode_gpu_instance": linode_gpu_instance.main,
    "linode_stackscript": linode_stackscript.main,
    "linode_gpu_plans_info": linode_gpu_plans_info.main,
    "linode_sandbox_request": linode_sandbox_request.main,
}
REQUEST_ANSWERS = ["label", "region", "plan", "image", "model", "hf_token", "hf_endpoint", "allowed_cidrs"]
REQUEST_ANSWERS += ["repo_url", "repo_ref", "insecure_repo_url", "ui_auth", "wait_for_api", "hub_check"]
SCRIPT = '#!/bin/bash\n# <UDF name="model_id" label="Model">\n'


def run(name, args):
    """One module run in this process; its JSON answer."""
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        basic._ANSIBLE_PROFILE = "legacy"
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        try:
            MODULES[name]()
        except SystemExit:
            pass
    return output.getvalue()


@pytest.fixture(scope="module")
def api():
    sys.path.insert(0, os.path.join(STANDINS, "linode_api"))
    from emulator import Emulator

    emulator = Emulator(token=LINODE_TOKEN, boot_seconds=0.5).start()
    stackscript = json.loads(
        run(
            "linode_stackscript",
            {"label": "ai-sandbox", "script": SCRIPT, "api_url": emulator.url, "api_token": LINODE_TOKEN},
        )
    )
    emulator.stackscript_id = stackscript["stackscript"]["id"]
    yield emulator
    emulator.stop()
    assert emulator.violations == [], emulator.violations


class Case:
    """One field: how a value goes in, the words that name the field, how inertness is proven."""

    def __init__(self, module, field, place, names=None, inert=None, secret=False):
        self.module = module
        self.field = field
        self.place = place
        self.names = names or [field]
        self.inert = inert
        self.secret = secret


def instance_args(api, label):
    return {
        "label": label,
        "region": "us-ord",
        "root_pass": "Sandbox-Root-Pass-42",
        "wait": False,
        "api_url": api.url,
        "api_token": LINODE_TOKEN,
    }


def made(api, label):
    found = [i for i in api.instances.values() if i["label"] == label]
    return found[0] if found else None


def stored_instance(check):
    return lambda api, args, value, answer: answer.get("changed") and check(made(api, args["label"]), value)


def stored_stackscript(field):
    def check(api, args, value, answer):
        script = answer.get("stackscript") and api.stackscripts[answer["stackscript"]["id"]]
        return bool(script) and script[field] == value

    return check


def nothing_found(api, args, value, answer):
    return answer.get("changed") is False and "failed" not in answer


def put(key):
    def place(args, value):
        args[key] = value

    return place


def put_dict(key, inner):
    def place(args, value):
        args[key] = dict(args.get(key) or {}, **inner(value))

    return place


CASES = [
    Case("linode_gpu_instance", "label", put("label"), inert=stored_instance(lambda i, v: i and i["label"] == v)),
    Case(
        "linode_gpu_instance",
        "label (absent)",
        lambda args, value: args.update(label=value, state="absent"),
        names=["label"],
        inert=nothing_found,
    ),
    Case("linode_gpu_instance", "state", put("state")),
    Case("linode_gpu_instance", "region", put("region")),
    Case("linode_gpu_instance", "plan", put("plan")),
    Case("linode_gpu_instance", "image", put("image")),
    Case(
        "linode_gpu_instance",
        "root_pass",
        put("root_pass"),
        inert=stored_instance(lambda i, v: i and i["_root_pass"] == v),
        secret=True,
    ),
    Case("linode_gpu_instance", "authorized_keys", lambda args, value: args.update(authorized_keys=[value])),
    Case("linode_gpu_instance", "stackscript_id", put("stackscript_id")),
    Case("linode_gpu_instance", "stackscript_label", put("stackscript_label")),
    Case(
        "linode_gpu_instance",
        "stackscript_data and stackscript_secrets (values)",
        lambda args, value: args.update(
            stackscript_data={"model_id": value},
            stackscript_secrets={"hf_token_password": value},
            stackscript_id=args["_script"],
        ),
        names=["stackscript_data", "stackscript_secrets"],
        inert=stored_instance(lambda i, v: i and i["_stackscript_data"] == {"model_id": v, "hf_token_password": v}),
        secret=True,
    ),
    Case(
        "linode_gpu_instance",
        "stackscript_data (name)",
        lambda args, value: args.update(stackscript_data={value: "x"}, stackscript_id=args["_script"]),
        names=["stackscript_data"],
        inert=stored_instance(lambda i, v: i and i["_stackscript_data"] == {v: "x"}),
    ),
    Case(
        "linode_gpu_instance",
        "stackscript_secrets (name)",
        lambda args, value: args.update(stackscript_secrets={value: "secret-value"}, stackscript_id=args["_script"]),
        names=["stackscript_secrets"],
        inert=stored_instance(lambda i, v: i and i["_stackscript_data"] == {v: "secret-value"}),
    ),
    Case(
        "linode_gpu_instance",
        "tags",
        lambda args, value: args.update(tags=[value]),
        inert=stored_instance(lambda i, v: i and v in i["tags"] and "ai-sandbox" in i["tags"]),
    ),
    Case(
        "linode_gpu_instance",
        "firewall.allowed_cidrs",
        lambda args, value: args.update(label="fw-" + args["label"][-8:], firewall={"allowed_cidrs": [value]}),
        names=["allowed_cidrs"],
    ),
    Case(
        "linode_gpu_instance",
        "firewall.ports",
        lambda args, value: args.update(firewall={"allowed_cidrs": ["203.0.113.0/24"], "ports": [value]}),
        names=["ports"],
    ),
    Case(
        "linode_gpu_instance",
        "firewall.enabled",
        lambda args, value: args.update(firewall={"allowed_cidrs": ["203.0.113.0/24"], "enabled": value}),
        names=["enabled"],
    ),
    Case("linode_gpu_instance", "wait", put("wait")),
    Case("linode_gpu_instance", "wait_timeout", put("wait_timeout")),
    Case("linode_gpu_instance", "api_url", put("api_url")),
    Case("linode_gpu_instance", "api_token", put("api_token"), secret=True),
    Case("linode_gpu_instance", "api_retries", put("api_retries")),
    Case("linode_gpu_instance", "api_timeout", put("api_timeout")),
    Case(
        "linode_stackscript",
        "label",
        put("label"),
        inert=stored_stackscript("label"),
    ),
    Case("linode_stackscript", "script", put("script"), inert=stored_stackscript("script")),
    Case(
        "linode_stackscript",
        "script (body)",
        lambda args, value: args.update(script="#!/bin/sh\n" + value),
        names=["script"],
        inert=lambda api, args, value, answer: stored_stackscript("script")(api, args, "#!/bin/sh\n" + value, answer),
    ),
    Case("linode_stackscript", "description", put("description"), inert=stored_stackscript("description")),
    Case("linode_stackscript", "rev_note", put("rev_note"), inert=stored_stackscript("rev_note")),
    Case("linode_stackscript", "images", lambda args, value: args.update(images=[value])),
    Case("linode_stackscript", "state", put("state")),
    Case("linode_stackscript", "api_url", put("api_url")),
    Case("linode_stackscript", "api_token", put("api_token"), secret=True),
    Case("linode_gpu_plans_info", "api_url", put("api_url")),
    Case("linode_gpu_plans_info", "api_token", put("api_token"), secret=True),
]


def answered_as_given(api, args, value, answer):
    """linode_sandbox_request passed it: returned as given, or (networks) as no network."""
    ((name, _value),) = args["answers"].items()
    if name == "hf_token":
        return "answers" in answer and "hf_token" not in answer["answers"]
    if name == "allowed_cidrs":
        return answer["answers"][name] == [] and value.strip(" ,") == ""
    return answer["answers"][name] == value


CASES += [
    Case(
        "linode_sandbox_request",
        name,
        lambda args, value, name=name: args.update(answers={name: value}),
        inert=answered_as_given,
        secret=name == "hf_token",
    )
    for name in REQUEST_ANSWERS
]
COUNTER = iter(range(1, 1000000))


def base(api, module, label):
    if module == "linode_gpu_instance":
        args = instance_args(api, label)
        args["_script"] = api.stackscript_id
        return args
    if module == "linode_sandbox_request":
        return {}
    if module == "linode_stackscript":
        return {"label": "script-" + label, "script": SCRIPT, "api_url": api.url, "api_token": LINODE_TOKEN}
    return {"api_url": api.url, "api_token": LINODE_TOKEN}


def feed(api, case, value):
    """None when the value was refused naming the field or proven inert; else what went wrong."""
    label = "corpus-%d" % next(COUNTER)
    args = base(api, case.module, label)
    case.place(args, value)
    args.pop("_script", None)
    writes = len(api.writes())
    known = (set(api.instances), set(api.stackscripts), set(api.firewalls))
    text = run(case.module, args)
    try:
        return judge(api, case, args, value, text, writes)
    finally:
        for kept, items in zip(known, (api.instances, api.stackscripts, api.firewalls), strict=True):
            for key in set(items) - kept:  # checked: forgotten, so that the emulator's lists stay short
                del items[key]


def judge(api, case, args, value, text, writes):
    try:
        answer = json.loads(text)
    except ValueError:
        return "no JSON answer: %r" % text[-300:]
    if case.secret and len(value) >= 8 and value in text:
        return "the secret value appears in the answer"
    if answer.get("failed"):
        message = answer.get("msg", "")
        if not any(name in message for name in case.names):
            return "refused without naming %s: %s" % (case.field, message[:300])
        if len(api.writes()) != writes and case.module == "linode_gpu_instance":
            return "refused, yet it wrote to the API: %s" % message[:200]
        return None
    if case.inert is None:
        return "accepted, and the field is not free text: %s" % text[:300]
    if not case.inert(api, args, value, answer):
        return "accepted, but not stored exactly as given: %s" % text[:300]
    return None


@pytest.mark.parametrize("value", VALUES, ids=hostile_inputs.ids())
def test_every_field_refuses_or_stores_it_verbatim(api, value):
    hostile_inputs.no_marker()
    problems = []
    for case in CASES:
        problem = feed(api, case, value)
        if problem:
            problems.append("%s %s: %s" % (case.module, case.field, problem))
    assert hostile_inputs.no_marker(), "a value ran a command"
    assert problems == []


def test_the_corpus_is_big_enough_and_reaches_every_field():
    assert len(VALUES) >= 40
    assert len(set(VALUES)) == len(VALUES)
    options = set(linode_gpu_instance.DOCUMENTATION.split("options:")[1].split("attributes:")[0].split())
    for option in ("label:", "state:", "region:", "plan:", "image:", "root_pass:", "authorized_keys:", "tags:"):
        assert option in options
    fields = {case.field.split(" ")[0].split(".")[0] for case in CASES if case.module == "linode_gpu_instance"}
    documented = {"label", "state", "region", "plan", "image", "root_pass", "authorized_keys", "stackscript_id"}
    documented |= {"stackscript_label", "stackscript_data", "stackscript_secrets", "tags", "firewall", "wait"}
    documented |= {"wait_timeout", "api_url", "api_token", "api_retries", "api_timeout"}
    assert documented <= fields
