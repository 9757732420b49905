#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: linode_image_info
short_description: The sandbox's golden images in your Linode account, newest first
version_added: 0.1.0
description:
  - Lists your private images whose label starts with O(label_prefix) and that carry the C(ai-sandbox) tag
    (made by M(oneclick.ai_sandbox.linode_image)), newest first, and names the newest available one.
  - Reads only; every page of the list is read.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
  - oneclick.ai_sandbox.linode_client
requirements:
  - linode_api4 >= 5.0
options:
  label_prefix:
    description: What a golden image's label starts with (1 to 64 characters, no control characters).
    type: str
    default: ai-sandbox-golden-
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Find the newest golden image
  oneclick.ai_sandbox.linode_image_info:
  register: golden

- name: Say which image a sandbox would boot from
  ansible.builtin.debug:
    msg: "{{ golden.newest.id if golden.newest else 'linode/ubuntu22.04' }}"
"""

RETURN = r"""
images:
  description: The matching images, newest first (any status).
  returned: success
  type: list
  elements: dict
  contains:
    id: {description: Image ID., type: str, sample: private/123456}
    label: {description: Label., type: str, sample: ai-sandbox-golden-0-1-0}
    description: {description: Description., type: str}
    status: {description: C(creating) or C(available)., type: str}
    size: {description: Size in MB., type: int}
    created: {description: When it was created., type: str}
newest:
  description: The newest available matching image, or null when there is none.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode as common
from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode_input as rules

FIELDS = ("id", "label", "description", "status", "size", "created")


def main():
    argument_spec = common.client_argument_spec()
    argument_spec.update(label_prefix={"type": "str", "default": "ai-sandbox-golden-"})
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    prefix = module.params["label_prefix"]
    error = rules.text_error(prefix, "label_prefix", 1, 64)
    if error:
        module.fail_json(msg=error)
    client = common.module_client(module)
    try:
        found = client.get_all("/images", filters={"is_public": False})
    except common.LinodeError as exc:
        module.fail_json(msg=exc.message, status=exc.status)
    images = [
        {key: image.get(key) for key in FIELDS}
        for image in found
        if common.is_ours(image) and (image.get("label") or "").startswith(prefix)
    ]
    # Linode's times are ISO 8601 in UTC, so they sort as text; the id breaks ties (a later capture).
    images.sort(key=lambda i: (i.get("created") or "", int(i["id"].split("/")[-1])), reverse=True)
    newest = next((i for i in images if i.get("status") == "available"), None)
    module.exit_json(changed=False, images=images, newest=newest)


if __name__ == "__main__":
    main()
