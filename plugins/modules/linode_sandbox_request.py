#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: linode_sandbox_request
short_description: Check the answers for a new sandbox before anything is created or billed
version_added: 0.1.0
description:
  - Checks the answers of a sandbox request (the provision playbook's), each against its whole value,
    and returns them normalized. Makes no call to Linode or the Hugging Face Hub and changes nothing.
  - Every answer that is refused is named in one failure - the field, the value as given (escaped,
    cut when long; never a secret, never a URL's credentials) and what is allowed; RV(refusals) lists
    them.
  - Answers that are not given (null) are not checked, so it can check the command line's answers
    before any prompt and all of them once the prompts are answered.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
options:
  answers:
    description:
      - The answers, as one dictionary (in a playbook one Jinja expression, so that each value reaches the
        module exactly as given on every supported ansible-core).
      - An answer that is left out or null is not checked.
    type: dict
    required: true
    suboptions:
      label:
        description:
          - The Linode's label - Linode's rule (3 to 64 letters, digits, C(-), C(_) or C(.), starting with a
            letter, ending with a letter or digit, no C(--), C(__) or C(..)); at most 23 characters when
            O(answers.allowed_cidrs) asks for a firewall (labelled C(<label>-firewall), at most 32 characters).
        type: raw
      region:
        description: One of the regions with RTX 4000 Ada plans - us-ord, de-fra-2, jp-osa, fr-par, us-sea, sg-sin-2.
        type: raw
      plan:
        description: An RTX 4000 Ada plan id, C(g2-gpu-rtx4000a<gpus>-<size>).
        type: raw
      image:
        description: C(linode/ubuntu22.04), C(linode/ubuntu24.04) or a private image C(private/<id>).
        type: raw
      model:
        description: A Hugging Face model id, C(<owner>/<name>).
        type: raw
      hf_token:
        description: A Hugging Face access token (C(hf_) and letters, digits, C(_), C(-)). Never shown.
        type: raw
      hf_endpoint:
        description:
          - The Hugging Face Hub or a mirror that the controller asks; C(https://), C(http://) only to this
            machine.
        type: raw
      allowed_cidrs:
        description:
          - Networks allowed in, a list or a comma-separated string of IPv4 or IPv6 networks (spaces around
            commas are fine).
        type: raw
      repo_url:
        description:
          - The collection repository the first boot runs as root - C(https://host[:port]/path), no
            credentials, query or fragment (C(http://) only with O(answers.insecure_repo_url)).
        type: raw
      repo_ref:
        description:
          - A branch, tag or commit (letters, digits, C(.), C(_), C(-), C(+), C(/); not starting with C(-) or
            C(/); no C(..)).
        type: raw
      insecure_repo_url:
        description: Allow a plain C(http://) O(answers.repo_url) (a lab's local mirror). A boolean.
        type: raw
      ui_auth:
        description: Whether Open WebUI asks for a login. A boolean.
        type: raw
      wait_for_api:
        description: Whether to wait until the API answers. A boolean.
        type: raw
      hub_check:
        description: Whether the controller asks the Hub for the model and the token. A boolean.
        type: raw
attributes:
  check_mode:
    support: full
    details: The module only reads its arguments.
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Check the answers given on the command line
  oneclick.ai_sandbox.linode_sandbox_request:
    answers: >-
      {{ {'label': label | default(none), 'region': region | default(none), 'model': model | default(none),
          'allowed_cidrs': allowed_cidrs | default(none), 'repo_url': repo_url | default(none)} }}
  register: request
"""

RETURN = r"""
answers:
  description:
    - The answers that were given, normalized (booleans as booleans, networks as a list in IP/prefix
      form); null when not given. Never the token.
  returned: success
  type: dict
  sample:
    label: ai-sandbox-1
    region: us-ord
    plan: g2-gpu-rtx4000a1-s
    image: linode/ubuntu22.04
    model: mistralai/Mistral-7B-Instruct-v0.3
    hf_endpoint: https://huggingface.co
    allowed_cidrs: [203.0.113.7/32]
    repo_url: null
    repo_ref: null
    insecure_repo_url: false
    ui_auth: false
    wait_for_api: false
    hub_check: true
refusals:
  description: On failure, each refused answer - the field and the message.
  returned: failure
  type: list
  elements: dict
  sample: [{field: model, message: "model: '$(touch /tmp/x)' is not a Hugging Face model id; expected <owner>/<name>"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode_input as rules

BOOLEANS = ("insecure_repo_url", "ui_auth", "wait_for_api", "hub_check")


def check(params):
    """(answers, refusals): each given answer (of the ``answers`` option) normalized, or a refusal naming it."""
    answers = {}
    refusals = []

    def refuse(field, message):
        if message:
            refusals.append({"field": field, "message": message})
            return True
        return False

    for name in BOOLEANS:
        answers[name] = None
        if params[name] is not None:
            value, error = rules.bool_value(params[name], name)
            if not refuse(name, error):
                answers[name] = value
    networks = None
    if params["allowed_cidrs"] is not None:
        networks, errors = rules.cidr_list(params["allowed_cidrs"], "allowed_cidrs")
        for error in errors:
            refuse("allowed_cidrs", error)
    answers["allowed_cidrs"] = networks
    checks = (
        ("label", rules.label_error),
        ("region", rules.region_error),
        ("plan", rules.plan_error),
        ("image", rules.image_error),
        ("model", rules.model_id_error),
        ("hf_endpoint", rules.api_url_error),
        ("repo_ref", rules.repo_ref_error),
    )
    for name, rule in checks:
        value = params[name]
        answers[name] = value if value is None or not refuse(name, rule(value, name)) else None
    if answers["label"] is not None and networks:
        refuse("label", rules.firewall_label_error(answers["label"]))
    url = params["repo_url"]
    allow_http = bool(answers["insecure_repo_url"])
    answers["repo_url"] = (
        url if url is None or not refuse("repo_url", rules.repo_url_error(url, allow_http=allow_http)) else None
    )
    if params["hf_token"] is not None:
        refuse("hf_token", rules.hf_token_error(params["hf_token"]))
    return answers, refusals


def main():
    names = ("label", "region", "plan", "image", "model", "hf_endpoint", "allowed_cidrs", "repo_url", "repo_ref")
    suboptions = {name: {"type": "raw"} for name in names + BOOLEANS}
    suboptions["hf_token"] = {"type": "raw", "no_log": True}
    module = AnsibleModule(
        argument_spec={"answers": {"type": "dict", "required": True, "options": suboptions}},
        supports_check_mode=True,
    )
    given = module.params["answers"]
    userinfo = rules.credentials_in(given["repo_url"])
    if userinfo:
        # Credentials in a URL are a secret: masked wherever the URL would appear (the arguments too).
        # The whole user information only: with its password part masked too, ansible-core 2.17 may
        # mask that first and leave the user name standing.
        module.no_log_values.add(userinfo)
    answers, refusals = check(given)
    if refusals:
        module.fail_json(
            msg="Refused before anything was created or billed: %s" % "; ".join(r["message"] for r in refusals),
            refusals=refusals,
        )
    module.exit_json(changed=False, answers=answers)


if __name__ == "__main__":
    main()
