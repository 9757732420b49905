#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: linode_gpu_instance
short_description: Create, find or delete an RTX 4000 Ada GPU Linode for the AI sandbox
version_added: 0.1.0
description:
  - Creates an NVIDIA RTX 4000 Ada Linode (plans C(g2-gpu-rtx4000a*)) in one of the regions that
    offer them, optionally deployed with a StackScript and behind a Cloud Firewall that lets only
    given networks reach SSH and the sandbox's ports; finds it again by label (idempotent); or deletes
    it with its firewall.
  - Acts only on what this collection made, a Linode (and a firewall) with the label B(and) the
    C(ai-sandbox) tag. A Linode or firewall with the label but without the tag is never adopted,
    changed or deleted; the module fails naming it (id, label, tags).
  - Every input is checked before the first call to Linode (whole-value matches; labels by the API's
    rule); a refusal names the option, the value (never a secret) and what is allowed.
  - Before creating, checks C(/linode/types) for the plan and C(/regions/availability) for the region
    and plan, and fails with the regions that do have the plan.
  - The firewall's rules and status are reconciled on every run (changed, diff and check mode), and it
    is attached to an existing instance through the firewall's devices.
  - A create that fails leaves nothing behind (a firewall made for it is deleted again). A create whose
    answer is lost (5xx, a reset connection, a timeout) is not sent twice - the instance is looked up by
    label and tag first.
  - An existing instance whose region, plan or image differs from the request is reported as a
    failure, never silently kept or destroyed.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
  - oneclick.ai_sandbox.linode_client
requirements:
  - linode_api4 >= 5.0
options:
  label:
    description:
      - The instance's label, its identity for this module (with the C(ai-sandbox) tag).
      - The API's rule - 3 to 64 letters, digits, C(-), C(_) or C(.), starting with a letter, ending
        with a letter or digit, no C(--), C(__) or C(..). At most 23 characters with O(firewall) (the
        firewall is labelled C(<label>-firewall), at most 32 characters).
    type: str
    required: true
  state:
    description: Whether the instance exists.
    type: str
    choices: [present, absent]
    default: present
  region:
    description: A region that offers RTX 4000 Ada plans. Required to create.
    type: str
    choices: [us-ord, de-fra-2, jp-osa, fr-par, us-sea, sg-sin-2]
  plan:
    description: An RTX 4000 Ada plan (C(g2-gpu-rtx4000a<gpus>-<size>)); C(/linode/types) is the truth.
    type: str
    default: g2-gpu-rtx4000a1-s
  image:
    description: >-
      The image; C(linode/ubuntu22.04) by default, C(linode/ubuntu24.04) or a private (golden) image
      C(private/<id>) also work.
    type: str
    default: linode/ubuntu22.04
  root_pass:
    description:
      - The root password (7 to 128 characters, no control characters). One of O(root_pass) and
        O(authorized_keys) is needed to create. Never logged or shown.
    type: str
  authorized_keys:
    description: Public SSH keys for root, one key line each.
    type: list
    elements: str
  stackscript_id:
    description: A StackScript to deploy with.
    type: int
  stackscript_label:
    description:
      - One of your StackScripts, by label (such as the one M(oneclick.ai_sandbox.linode_stackscript)
        publishes).
    type: str
  stackscript_data:
    description:
      - The StackScript's UDF values that are not secret, passed to Linode exactly as given (the
        StackScript checks them). Names are letters, digits and C(_).
    type: dict
  stackscript_secrets:
    description:
      - The StackScript's secret UDF values (tokens, passwords), merged into O(stackscript_data).
        Never logged or returned.
    type: dict
  tags:
    description:
      - Tags (3 to 50 characters each, no control characters); C(ai-sandbox) is always added (it marks
        the instance as this collection's, and the inventory plugin finds sandboxes by it).
    type: list
    elements: str
    default: []
  firewall:
    description:
      - A Cloud Firewall labelled C(<label>-firewall) that drops inbound traffic except to
        O(firewall.ports) from O(firewall.allowed_cidrs). Its rules are compared with these on every
        run and updated when they differ.
      - Without this option an existing firewall is left as it is.
    type: dict
    suboptions:
      enabled:
        description: Create (or update) and attach the firewall. V(false) leaves any firewall as it is.
        type: bool
        default: true
      allowed_cidrs:
        description: Source networks (IPv4 or IPv6 CIDRs; a single address means just it) allowed in.
        type: list
        elements: str
        required: true
      ports:
        description: TCP ports open to them (SSH, the chat UI, the API).
        type: list
        elements: int
        default: [22, 3000, 8000]
  wait:
    description: Wait until the instance is C(running).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait (1 to 3600).
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    details: No write call is made; the answer says what would be created, changed or deleted.
  diff_mode:
    support: full
    details: The instance's label, region, plan, image, tags and status, and the firewall's status and rules.
  idempotent:
    support: full
notes:
  - Creating a GPU Linode costs money from the moment it exists; delete it with O(state=absent).
"""

EXAMPLES = r"""
- name: Create a sandbox in Chicago, open to one office network
  oneclick.ai_sandbox.linode_gpu_instance:
    label: ai-sandbox-1
    region: us-ord
    plan: g2-gpu-rtx4000a1-s
    root_pass: "{{ vault_root_pass }}"
    stackscript_label: ai-sandbox
    stackscript_data:
      model_id: mistralai/Mistral-7B-Instruct-v0.3
    stackscript_secrets:
      hf_token_password: "{{ vault_hf_token }}"
    firewall:
      allowed_cidrs: [203.0.113.0/24]
  register: sandbox

- name: Later, let only one address in (the firewall's rules are updated)
  oneclick.ai_sandbox.linode_gpu_instance:
    label: ai-sandbox-1
    region: us-ord
    firewall:
      allowed_cidrs: [198.51.100.7/32]

- name: Delete it (never a Linode without the ai-sandbox tag)
  oneclick.ai_sandbox.linode_gpu_instance:
    label: ai-sandbox-1
    state: absent
"""

RETURN = r"""
instance:
  description: The instance (absent after a deletion).
  returned: when it exists
  type: dict
  contains:
    id: {description: Linode ID., type: int, sample: 12345678}
    label: {description: Label., type: str, sample: ai-sandbox-1}
    status: {description: Status., type: str, sample: running}
    region: {description: Region., type: str, sample: us-ord}
    plan: {description: Plan (type)., type: str, sample: g2-gpu-rtx4000a1-s}
    image: {description: Image., type: str, sample: linode/ubuntu22.04}
    tags: {description: Tags., type: list, elements: str}
    gpus: {description: GPU count., type: int, sample: 1}
    ipv4: {description: Public IPv4 address., type: str, sample: 192.0.2.10}
    ipv4_private: {description: "Private IPv4 address, if any.", type: str}
    ipv6: {description: IPv6 address., type: str}
    urls:
      description: The chat UI and the OpenAI API base URL.
      type: dict
      sample: {chat: "http://192.0.2.10:3000", api: "http://192.0.2.10:8000/v1"}
firewall_id:
  description: The sandbox's Cloud Firewall's ID, when it has one.
  returned: when the sandbox has a firewall
  type: int
drift:
  description: On failure, the attributes of the existing instance that differ from the request.
  returned: failure because of drift
  type: dict
  sample: {region: {have: us-ord, want: de-fra-2}}
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode as common
from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode_input as rules

SANDBOX_TAG = rules.SANDBOX_TAG
STACKSCRIPT_DATA_MAX = 65535  # characters of the UDF values as JSON (the API's limit)
POLL = (0.5, 1.0, 2.0)  # seconds between status reads while waiting; then every 2 s


def find_instance(client, label):
    found = client.get_all("/linode/instances", filters={"label": label})
    return found[0] if found else None


def find_firewall(client, label):
    found = client.get_all("/networking/firewalls", filters={"label": label})
    return found[0] if found else None


def firewall_label(label):
    return label + rules.FIREWALL_SUFFIX


def firewall_rules(settings):
    ipv4 = [c for c in settings["allowed_cidrs"] if ":" not in c]
    ipv6 = [c for c in settings["allowed_cidrs"] if ":" in c]
    addresses = {}
    if ipv4:
        addresses["ipv4"] = ipv4
    if ipv6:
        addresses["ipv6"] = ipv6
    return {
        "inbound_policy": "DROP",
        "outbound_policy": "ACCEPT",
        "inbound": [
            {
                "action": "ACCEPT",
                "protocol": "TCP",
                "ports": ",".join(str(p) for p in settings["ports"]),
                "addresses": addresses,
                "label": "ai-sandbox-in",
                "description": "SSH, chat UI and API from the allowed networks",
            }
        ],
        "outbound": [],
    }


def _address(text):
    network, error = rules.cidr_value(text)
    return text if error else network


def rules_view(rules):
    """Rules as compared and shown in a diff: without the API's fingerprint and version, ports without
    spaces, addresses normalized and sorted."""

    def rule(item):
        addresses = item.get("addresses") or {}
        return {
            "action": item.get("action"),
            "protocol": item.get("protocol"),
            "ports": (item.get("ports") or "").replace(" ", ""),
            "addresses": {k: sorted(_address(a) for a in v) for k, v in sorted(addresses.items()) if v},
            "label": item.get("label"),
            "description": item.get("description"),
        }

    rules = rules or {}
    return {
        "inbound_policy": rules.get("inbound_policy"),
        "outbound_policy": rules.get("outbound_policy"),
        "inbound": [rule(r) for r in rules.get("inbound") or []],
        "outbound": [rule(r) for r in rules.get("outbound") or []],
    }


def firewall_summary(firewall):
    if not firewall:
        return None
    return {
        "label": firewall.get("label"),
        "status": firewall.get("status"),
        "rules": rules_view(firewall.get("rules")),
    }


def view(instance):
    return common.instance_view(instance) if instance else None


def summary(instance, firewall=None):
    """The fields a diff shows."""
    result = {}
    if instance:
        result = {key: instance.get(key) for key in ("label", "region", "type", "image", "tags", "status")}
    if firewall:
        result["firewall"] = firewall
    return result


class InstanceModule:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.client = None
        self.warnings = []

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **extra)

    # --- inputs --------------------------------------------------------------------------------
    def check_inputs(self):
        """Every refusal that needs no API call, before the first one."""
        params = self.params
        errors = [rules.label_error(params["label"])]
        settings = params["firewall"]
        managed = params["state"] == "present" and settings and settings["enabled"]
        if managed:
            errors.append(rules.firewall_label_error(params["label"]))
        if params["state"] == "present":
            errors += [rules.plan_error(params["plan"]), rules.image_error(params["image"])]
            if params["root_pass"] is not None:
                errors.append(rules.password_error(params["root_pass"]))
            for key in params["authorized_keys"] or []:
                errors.append(rules.ssh_key_error(key))
            if params["stackscript_id"] is not None:
                errors.append(rules.int_range_error(params["stackscript_id"], "stackscript_id", 1, 2**31 - 1))
            if params["stackscript_label"] is not None:
                errors.append(rules.text_error(params["stackscript_label"], "stackscript_label", 3, 128))
            for tag in params["tags"]:
                errors.append(rules.text_error(tag, "tags", 3, 50))
            errors += self.check_stackscript_data()
            errors.append(rules.int_range_error(params["wait_timeout"], "wait_timeout", 1, 3600))
        if managed:
            networks, refused = rules.cidr_list(settings["allowed_cidrs"], "firewall.allowed_cidrs")
            errors += refused
            if not networks and not refused:
                errors.append("firewall.allowed_cidrs: empty; give at least one network, or leave out firewall")
            settings["allowed_cidrs"] = networks
            for port in settings["ports"]:
                errors.append(rules.int_range_error(port, "firewall.ports", 1, 65535))
            if not settings["ports"]:
                errors.append("firewall.ports: empty; give at least one port")
        errors = [e for e in errors if e]
        if errors:
            self.fail("; ".join(errors))

    def check_stackscript_data(self):
        errors = []
        data = {}
        for option in ("stackscript_data", "stackscript_secrets"):
            for name, value in (self.params[option] or {}).items():
                errors.append(rules.udf_name_error(name, "%s key" % option))
                if not isinstance(value, (str, int, float, bool)):
                    errors.append("%s.%s: expected a string" % (option, name))
                data[name] = value
        if len(json.dumps(data)) > STACKSCRIPT_DATA_MAX:
            errors.append(
                "stackscript_data: %d characters as JSON together with stackscript_secrets; Linode allows %d"
                % (len(json.dumps(data)), STACKSCRIPT_DATA_MAX)
            )
        return errors

    # --- lookups -------------------------------------------------------------------------------
    def stackscript_id(self):
        if self.params["stackscript_id"]:
            return self.params["stackscript_id"]
        label = self.params["stackscript_label"]
        if not label:
            return None
        found = self.client.get_all("/linode/stackscripts", filters={"label": label, "mine": True})
        if not found:
            self.fail(
                "stackscript_label: no StackScript of yours is labelled %s; publish it first "
                "(oneclick.ai_sandbox.linode_stackscript)" % rules.shown(label)
            )
        return found[0]["id"]

    def check_plan_and_region(self):
        plan, region = self.params["plan"], self.params["region"]
        plans = common.gpu_plans(self.client.get_all("/linode/types"))
        if plan not in plans:
            self.fail(
                "plan: %s does not exist; RTX 4000 Ada plans now: %s"
                % (rules.shown(plan), ", ".join(sorted(plans)) or "none")
            )
        offers = self.client.get_all("/regions/availability", filters={"plan": plan})
        available = sorted(o["region"] for o in offers if o.get("available") and o.get("plan") == plan)
        if region not in available:
            where = ", ".join(r for r in available if r in rules.RTX4000_REGIONS) or "no region at the moment"
            self.fail(
                "plan %s is not available in region %s now; it is available in: %s" % (plan, region, where),
                available_regions=available,
            )
        return plans[plan]

    def our_instance(self, action):
        """The sandbox's instance by label; fails when the Linode with that label is not the sandbox's."""
        existing = find_instance(self.client, self.params["label"])
        if existing is not None and not common.is_ours(existing):
            self.fail(common.foreign("Linode", existing, action), instance=view(existing))
        return existing

    def our_firewall(self, action):
        """The sandbox's firewall; one with its label that is not the sandbox's fails (present) or is
        left alone with a warning (absent)."""
        firewall = find_firewall(self.client, firewall_label(self.params["label"]))
        if firewall is not None and not common.is_ours(firewall):
            if action == "delete":
                self.warnings.append(common.foreign("firewall", firewall, action))
                return None
            self.fail(common.foreign("firewall", firewall, action))
        return firewall

    # --- firewall ------------------------------------------------------------------------------
    def ensure_firewall(self, instance_id=None):
        """The sandbox's firewall made, reconciled and attached to ``instance_id``.

        Returns (firewall id or None, changed, made now, diff before, diff after)."""
        settings = self.params["firewall"]
        if not settings or not settings["enabled"]:
            firewall = find_firewall(self.client, firewall_label(self.params["label"]))
            firewall = firewall if common.is_ours(firewall) else None
            summary_ = firewall_summary(firewall)
            return (firewall or {}).get("id"), False, False, summary_, summary_
        label = firewall_label(self.params["label"])
        wanted = firewall_rules(settings)
        firewall = self.our_firewall("adopt")
        before = firewall_summary(firewall)
        after = {"label": label, "status": "enabled", "rules": rules_view(wanted)}
        if firewall is None:
            if self.module.check_mode:
                return None, True, False, None, after
            body = {"label": label, "rules": wanted, "tags": [SANDBOX_TAG]}
            if instance_id is not None:
                body["devices"] = {"linodes": [instance_id]}  # attached as it is made: never an orphan
            firewall = self.client.post("/networking/firewalls", body, recover=self.made_firewall)
            return firewall["id"], True, True, None, firewall_summary(firewall)
        path = "/networking/firewalls/%d" % firewall["id"]
        changed = False
        if rules_view(firewall.get("rules")) != rules_view(wanted):
            changed = True
            if not self.module.check_mode:
                self.client.put(path + "/rules", wanted)
        if firewall.get("status") != "enabled":
            changed = True
            if not self.module.check_mode:
                self.client.put(path, {"status": "enabled"})
        if instance_id is not None and not self.attached(firewall["id"], instance_id):
            changed = True
            if not self.module.check_mode:
                self.client.post(
                    path + "/devices",
                    {"type": "linode", "id": instance_id},
                    recover=lambda: {} if self.attached(firewall["id"], instance_id) else None,
                )
        return firewall["id"], changed, False, before, after

    def made_firewall(self):
        """After an ambiguous failure of the firewall's creation: the firewall, if it was made."""
        firewall = find_firewall(self.client, firewall_label(self.params["label"]))
        return firewall if common.is_ours(firewall) else None

    def attached(self, firewall_id, instance_id):
        devices = self.client.get_all("/networking/firewalls/%d/devices" % firewall_id)
        return any((d.get("entity") or {}).get("id") == instance_id for d in devices)

    # --- instance ------------------------------------------------------------------------------
    def made_instance(self):
        """After an ambiguous failure of the creation: the instance, if it was made (label and tag)."""
        found = find_instance(self.client, self.params["label"])
        return found if common.is_ours(found) else None

    def clean_up(self, firewall_id):
        """After a failed create: delete what this run made (an instance made anyway, the firewall made
        for it), so that nothing is left to bill or to hold the label; say what happened."""
        done = []
        try:
            leftover = self.made_instance()
            if leftover is not None:
                self.client.delete("/linode/instances/%d" % leftover["id"])
                done.append("the instance %d made anyway was deleted" % leftover["id"])
            if firewall_id is not None:
                self.client.delete("/networking/firewalls/%d" % firewall_id)
                done.append("the firewall %d made for it was deleted" % firewall_id)
        except common.LinodeError as exc:
            return "; cleaning up failed too (%s): look for a Linode labelled %s and a firewall labelled %s" % (
                exc.message,
                self.params["label"],
                firewall_label(self.params["label"]),
            )
        return "; %s: nothing is left" % ", ".join(done) if done else "; nothing was made"

    def wait(self, instance):
        if not self.params["wait"] or self.module.check_mode:
            return instance
        deadline = time.time() + self.params["wait_timeout"]
        polls = 0
        while instance["status"] != "running":
            if time.time() >= deadline:
                self.fail(
                    "instance %s did not reach running within %d s (status: %s)"
                    % (instance["label"], self.params["wait_timeout"], instance["status"]),
                    instance=view(instance),
                )
            time.sleep(POLL[min(polls, len(POLL) - 1)])
            polls += 1
            instance = self.client.get("/linode/instances/%d" % instance["id"])
        return instance

    def present(self):
        params = self.params
        existing = self.our_instance("adopt")
        if existing:
            wanted = {"region": params["region"], "type": params["plan"], "image": params["image"]}
            drift = {
                ("plan" if key == "type" else key): {"have": existing.get(key), "want": value}
                for key, value in wanted.items()
                if value is not None and existing.get(key) != value
            }
            if drift:
                self.fail(
                    "instance %s exists, but its %s differ from the request; it was left as it is. Delete it "
                    "(state=absent) or choose another label."
                    % (
                        params["label"],
                        ", ".join("%s (%s, not %s)" % (k, v["have"], v["want"]) for k, v in sorted(drift.items())),
                    ),
                    drift=drift,
                    instance=view(existing),
                )
            firewall_id, changed, _made, before, after = self.ensure_firewall(existing["id"])
            instance = self.wait(existing)
            return {
                "changed": changed,
                "instance": view(instance),
                "firewall_id": firewall_id,
                "diff": {"before": summary(existing, before), "after": summary(instance, after)},
            }

        if not params["region"]:
            self.fail(
                "region is required to create instance %s; choose one of %s"
                % (params["label"], ", ".join(rules.RTX4000_REGIONS))
            )
        if not params["root_pass"] and not params["authorized_keys"]:
            self.fail("root_pass or authorized_keys is required to create instance %s" % params["label"])
        plan = self.check_plan_and_region()
        stackscript_id = self.stackscript_id()
        tags = sorted(set(params["tags"]) | {SANDBOX_TAG})
        planned = {
            "label": params["label"],
            "region": params["region"],
            "type": params["plan"],
            "image": params["image"],
            "tags": tags,
            "status": "running",
        }
        if self.module.check_mode:
            _id, _changed, _made, before, after = self.ensure_firewall()
            return {
                "changed": True,
                "instance": None,
                "diff": {"before": summary(None, before), "after": summary(planned, after)},
                "msg": "would create %s (%s, %d GPU) in %s"
                % (params["label"], params["plan"], plan.get("gpus", 0), params["region"]),
            }
        firewall_id, _changed, made_firewall, before, after = self.ensure_firewall()
        options = {"image": params["image"], "label": params["label"], "tags": tags}
        if params["root_pass"]:
            options["root_pass"] = params["root_pass"]
        if params["authorized_keys"]:
            options["authorized_keys"] = params["authorized_keys"]
        if stackscript_id:
            options["stackscript"] = stackscript_id
            data = dict(params["stackscript_data"] or {})
            data.update(params["stackscript_secrets"] or {})
            options["stackscript_data"] = data
        if firewall_id:
            options["firewall"] = firewall_id
        try:
            instance = self.client.create_instance(
                params["plan"], params["region"], recover=self.made_instance, **options
            )
        except common.LinodeError as exc:
            exc.message += self.clean_up(firewall_id if made_firewall else None)
            raise
        instance = self.wait(instance)
        return {
            "changed": True,
            "instance": view(instance),
            "firewall_id": firewall_id,
            "diff": {"before": summary(None, before), "after": summary(instance, after)},
        }

    def absent(self):
        existing = self.our_instance("delete")
        firewall = self.our_firewall("delete")
        if firewall and existing is not None:
            others = [
                (d.get("entity") or {}).get("id")
                for d in self.client.get_all("/networking/firewalls/%d/devices" % firewall["id"])
            ]
            others = [o for o in others if o != existing["id"]]
            if others:
                self.warnings.append(
                    "firewall %d (%s) also protects Linode(s) %s: it was left as it is"
                    % (firewall["id"], firewall["label"], ", ".join(str(o) for o in others))
                )
                firewall = None
        if not existing and not firewall:
            return {"changed": False, "diff": {"before": {}, "after": {}}}
        if not self.module.check_mode:
            if existing:
                self.client.delete("/linode/instances/%d" % existing["id"])
            if firewall:
                self.client.delete("/networking/firewalls/%d" % firewall["id"])
        return {"changed": True, "diff": {"before": summary(existing, firewall_summary(firewall)), "after": {}}}

    def run(self):
        self.check_inputs()
        self.client = common.module_client(self.module)
        try:
            result = self.present() if self.params["state"] == "present" else self.absent()
        except common.LinodeError as exc:
            self.module.fail_json(msg=exc.message, status=exc.status)
        for warning in self.warnings:
            self.module.warn(warning)
        if not self.module._diff:
            result.pop("diff", None)
        if result.get("firewall_id") is None:
            result.pop("firewall_id", None)
        return result


def main():
    argument_spec = common.client_argument_spec()
    argument_spec.update(
        label={"type": "str", "required": True},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        region={"type": "str", "choices": rules.RTX4000_REGIONS},
        plan={"type": "str", "default": "g2-gpu-rtx4000a1-s"},
        image={"type": "str", "default": "linode/ubuntu22.04"},
        root_pass={"type": "str", "no_log": True},
        authorized_keys={"type": "list", "elements": "str", "no_log": True},
        stackscript_id={"type": "int"},
        stackscript_label={"type": "str"},
        stackscript_data={"type": "dict"},
        stackscript_secrets={"type": "dict", "no_log": True},
        tags={"type": "list", "elements": "str", "default": []},
        firewall={
            "type": "dict",
            "options": {
                "enabled": {"type": "bool", "default": True},
                "allowed_cidrs": {"type": "list", "elements": "str", "required": True},
                "ports": {"type": "list", "elements": "int", "default": [22, 3000, 8000]},
            },
        },
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 600},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("stackscript_id", "stackscript_label")],
        supports_check_mode=True,
    )
    module.exit_json(**InstanceModule(module).run())


if __name__ == "__main__":
    main()
