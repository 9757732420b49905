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
  - Before creating, checks C(/linode/types) for the plan and C(/regions/availability) for the region
    and plan, and fails with the regions that do have the plan.
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
    description: The instance's label, its identity for this module.
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
    description: The image; Ubuntu 22.04 by default, Ubuntu 24.04 or a private (golden) image also work.
    type: str
    default: linode/ubuntu22.04
  root_pass:
    description: The root password. One of O(root_pass) and O(authorized_keys) is needed to create.
    type: str
  authorized_keys:
    description: Public SSH keys for root.
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
    description: The StackScript's UDF values that are not secret.
    type: dict
  stackscript_secrets:
    description:
      - The StackScript's secret UDF values (tokens, passwords), merged into O(stackscript_data).
        Never logged or returned.
    type: dict
  tags:
    description: Tags; C(ai-sandbox) is always added (the inventory plugin finds sandboxes by it).
    type: list
    elements: str
    default: []
  firewall:
    description:
      - A Cloud Firewall named C(<label>-firewall) that drops inbound traffic except to O(firewall.ports)
        from O(firewall.allowed_cidrs).
    type: dict
    suboptions:
      enabled:
        description: Create and attach the firewall.
        type: bool
        default: true
      allowed_cidrs:
        description: Source networks (IPv4 or IPv6 CIDRs) allowed in.
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
    description: Seconds to wait.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    details: No write call is made; the answer says what would be created or deleted.
  diff_mode:
    support: full
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

- name: Delete it
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
  description: The Cloud Firewall's ID, when one is managed.
  returned: when O(firewall) is set
  type: int
drift:
  description: On failure, the attributes of the existing instance that differ from the request.
  returned: failure because of drift
  type: dict
  sample: {region: {have: us-ord, want: de-fra-2}}
"""

import ipaddress
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode as common

SANDBOX_TAG = "ai-sandbox"


def find_instance(client, label):
    found = client.get_all("/linode/instances", filters={"label": label})
    return found[0] if found else None


def find_firewall(client, label):
    found = client.get_all("/networking/firewalls", filters={"label": label})
    return found[0] if found else None


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


def view(instance):
    return common.instance_view(instance) if instance else None


def summary(instance):
    """The fields a diff shows."""
    if not instance:
        return {}
    return {key: instance.get(key) for key in ("label", "region", "type", "image", "tags", "status")}


class InstanceModule:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **extra)

    def stackscript_id(self):
        if self.params["stackscript_id"]:
            return self.params["stackscript_id"]
        label = self.params["stackscript_label"]
        if not label:
            return None
        found = self.client.get_all("/linode/stackscripts", filters={"label": label, "mine": True})
        if not found:
            self.fail(
                "stackscript_label: no StackScript of yours is labelled %r; publish it first "
                "(oneclick.ai_sandbox.linode_stackscript)" % label
            )
        return found[0]["id"]

    def check_cidrs(self):
        settings = self.params["firewall"]
        for cidr in (settings or {}).get("allowed_cidrs") or []:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                self.fail("firewall.allowed_cidrs: %r is not an IPv4 or IPv6 network (such as 203.0.113.0/24)" % cidr)

    def check_plan_and_region(self):
        plan, region = self.params["plan"], self.params["region"]
        if not common.RTX4000_PLAN.match(plan or ""):
            self.fail(
                "plan: %r is not an RTX 4000 Ada plan; expected g2-gpu-rtx4000a<gpus>-<size>, "
                "such as g2-gpu-rtx4000a1-s" % plan
            )
        plans = common.gpu_plans(self.client.get_all("/linode/types"))
        if plan not in plans:
            self.fail(
                "plan: %r does not exist; RTX 4000 Ada plans now: %s" % (plan, ", ".join(sorted(plans)) or "none")
            )
        offers = self.client.get_all("/regions/availability", filters={"plan": plan})
        available = sorted(o["region"] for o in offers if o.get("available") and o.get("plan") == plan)
        if region not in available:
            where = ", ".join(r for r in available if r in common.RTX4000_REGIONS) or "no region at the moment"
            self.fail(
                "plan %s is not available in region %s now; it is available in: %s" % (plan, region, where),
                available_regions=available,
            )
        return plans[plan]

    def ensure_firewall(self, instance_id=None):
        settings = self.params["firewall"]
        if not settings or not settings["enabled"]:
            return None, False
        label = "%s-firewall" % self.params["label"]
        firewall = find_firewall(self.client, label)
        changed = False
        if firewall is None:
            changed = True
            if self.module.check_mode:
                return None, True
            body = {"label": label, "rules": firewall_rules(settings), "tags": [SANDBOX_TAG]}
            firewall = self.client.post("/networking/firewalls", body)
        if instance_id is not None:
            devices = self.client.get_all("/networking/firewalls/%d/devices" % firewall["id"])
            if not any(d.get("entity", {}).get("id") == instance_id for d in devices):
                changed = True
                if not self.module.check_mode:
                    self.client.post(
                        "/networking/firewalls/%d/devices" % firewall["id"],
                        {"type": "linode", "id": instance_id},
                        safe=True,
                    )
        return firewall["id"], changed

    def wait(self, instance):
        if not self.params["wait"] or self.module.check_mode:
            return instance
        deadline = time.time() + self.params["wait_timeout"]
        while instance["status"] != "running":
            if time.time() >= deadline:
                self.fail(
                    "instance %s did not reach running within %d s (status: %s)"
                    % (instance["label"], self.params["wait_timeout"], instance["status"]),
                    instance=view(instance),
                )
            time.sleep(2)
            instance = self.client.get("/linode/instances/%d" % instance["id"])
        return instance

    def present(self):
        params = self.params
        self.check_cidrs()
        existing = find_instance(self.client, params["label"])
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
            firewall_id, changed = self.ensure_firewall(existing["id"])
            instance = self.wait(existing)
            return {
                "changed": changed,
                "instance": view(instance),
                "firewall_id": firewall_id,
                "diff": {"before": summary(existing), "after": summary(instance)},
            }

        for name in ("region",):
            if not params[name]:
                self.fail("%s is required to create instance %s" % (name, params["label"]))
        if not params["root_pass"] and not params["authorized_keys"]:
            self.fail("root_pass or authorized_keys is required to create instance %s" % params["label"])
        if not common.LABEL_PATTERN.match(params["label"]):
            self.fail("label: %r is not a Linode label; it must be %s" % (params["label"], common.LABEL_RULE))
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
            return {
                "changed": True,
                "instance": None,
                "diff": {"before": {}, "after": planned},
                "msg": "would create %s (%s, %d GPU) in %s"
                % (params["label"], params["plan"], plan.get("gpus", 0), params["region"]),
            }
        firewall_id, _changed = self.ensure_firewall()
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
        instance = self.client.create_instance(params["plan"], params["region"], **options)
        instance = self.wait(instance)
        return {
            "changed": True,
            "instance": view(instance),
            "firewall_id": firewall_id,
            "diff": {"before": {}, "after": summary(instance)},
        }

    def absent(self):
        label = self.params["label"]
        existing = find_instance(self.client, label)
        firewall = find_firewall(self.client, "%s-firewall" % label)
        if not existing and not firewall:
            return {"changed": False, "diff": {"before": {}, "after": {}}}
        if not self.module.check_mode:
            if existing:
                self.client.delete("/linode/instances/%d" % existing["id"])
            if firewall:
                self.client.delete("/networking/firewalls/%d" % firewall["id"])
        return {"changed": True, "diff": {"before": summary(existing), "after": {}}}


def main():
    argument_spec = common.client_argument_spec()
    argument_spec.update(
        label={"type": "str", "required": True},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        region={"type": "str", "choices": common.RTX4000_REGIONS},
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
    client = common.module_client(module)
    handler = InstanceModule(module, client)
    try:
        result = handler.present() if module.params["state"] == "present" else handler.absent()
    except common.LinodeError as exc:
        module.fail_json(msg=exc.message, status=exc.status)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
