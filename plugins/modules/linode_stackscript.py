#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: linode_stackscript
short_description: Publish or update one of your Linode StackScripts by label
version_added: 0.1.0
description:
  - Creates a private StackScript, or updates the one of yours with the same label when its script,
    images or description differ (idempotent).
  - Images are limited to the Ubuntu images the sandbox supports.
  - The script, description and revision note are stored exactly as given. A create whose answer is
    lost (5xx, a reset connection, a timeout) is not sent twice - the StackScript is looked up by label
    first.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
  - oneclick.ai_sandbox.linode_client
requirements:
  - linode_api4 >= 5.0
options:
  label:
    description: The StackScript's label, its identity for this module (3 to 128 characters, no control characters).
    type: str
    required: true
  script:
    description: The script, starting with a shebang. Required with O(state=present).
    type: str
  description:
    description: What the StackScript does.
    type: str
    default: ""
  images:
    description: Images it deploys to.
    type: list
    elements: str
    choices: [linode/ubuntu22.04, linode/ubuntu24.04]
    default: [linode/ubuntu22.04, linode/ubuntu24.04]
  rev_note:
    description: A note for this revision.
    type: str
    default: ""
  state:
    description: Whether the StackScript exists. Deleting is not offered; O(state=present) only.
    type: str
    choices: [present]
    default: present
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Publish the sandbox's StackScript
  oneclick.ai_sandbox.linode_stackscript:
    label: ai-sandbox
    description: One-Click AI Sandbox first boot (ansible-pull)
    script: "{{ lookup('ansible.builtin.file', 'stackscripts/ai-sandbox.sh') }}"
"""

RETURN = r"""
stackscript:
  description: The StackScript.
  returned: success
  type: dict
  contains:
    id: {description: StackScript ID., type: int, sample: 1234567}
    label: {description: Label., type: str, sample: ai-sandbox}
    images: {description: Images., type: list, elements: str}
    user_defined_fields: {description: The UDFs Linode read from the script., type: list, elements: dict}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode as common
from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode_input as rules

FIELDS = ("script", "description", "images", "rev_note")


def main():
    argument_spec = common.client_argument_spec()
    argument_spec.update(
        label={"type": "str", "required": True},
        script={"type": "str"},
        description={"type": "str", "default": ""},
        images={
            "type": "list",
            "elements": "str",
            "choices": rules.SUPPORTED_IMAGES,
            "default": list(rules.SUPPORTED_IMAGES),
        },
        rev_note={"type": "str", "default": ""},
        state={"type": "str", "choices": ["present"], "default": "present"},
    )
    module = AnsibleModule(
        argument_spec=argument_spec, required_if=[("state", "present", ["script"])], supports_check_mode=True
    )
    params = module.params
    error = rules.text_error(params["label"], "label", 3, 128)
    if error:
        module.fail_json(msg=error)
    if not params["script"].startswith("#!"):
        module.fail_json(msg="script: must start with a shebang such as #!/bin/bash")
    client = common.module_client(module)
    wanted = {key: params[key] for key in FIELDS}

    def mine():
        found = client.get_all("/linode/stackscripts", filters={"label": params["label"], "mine": True})
        return found[0] if found else None

    try:
        current = mine()
        before = {key: current.get(key) for key in FIELDS} if current else {}
        compare = dict(wanted, rev_note=before.get("rev_note"))  # a note alone is no change
        if current and sorted(current["images"]) == sorted(wanted["images"]):
            compare["images"] = current["images"]
        changed = before != compare
        result = current
        if changed and not module.check_mode:
            body = dict(wanted, label=params["label"], is_public=False)
            if current:
                result = client.put("/linode/stackscripts/%d" % current["id"], body)
            else:
                result = client.post("/linode/stackscripts", body, recover=mine)
    except common.LinodeError as exc:
        module.fail_json(msg=exc.message, status=exc.status)
    output = {"changed": changed}
    if result:
        output["stackscript"] = {key: result.get(key) for key in ("id", "label", "images", "user_defined_fields")}
    if module._diff:
        output["diff"] = {"before": before, "after": wanted if changed else before}
    module.exit_json(**output)


if __name__ == "__main__":
    main()
