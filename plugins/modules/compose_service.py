#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: compose_service
short_description: Own one service of a shared Docker Compose file
version_added: 0.1.0
description:
  - Sets (or removes) one service, and the named volumes it declares, in a Docker Compose file and
    leaves every other service as it is. Several roles can so write one file, the single place a user
    reads and edits the stack, while each role also works alone.
  - The file is written only when its content changes, with mode C(0644); keep secrets in
    C(env_file) files, never in the definition.
  - Needs PyYAML on the managed host (C(python3-yaml)).
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
options:
  path:
    description: The compose file.
    type: path
    required: true
  project:
    description: The compose project name, written as the file's top-level C(name).
    type: str
    required: true
  service:
    description: The name of the service this task owns.
    type: str
    required: true
  definition:
    description: The service's definition, as it appears under C(services.<service>). Required with O(state=present).
    type: dict
  volumes:
    description: Top-level named volumes the service needs (merged; others are kept).
    type: dict
    default: {}
  state:
    description: Whether the service is in the file.
    type: str
    choices: [present, absent]
    default: present
  header:
    description:
      - A comment written at the top of the file. Every task that writes the same file must pass the
        same header, or each would rewrite the other's.
      - When not set, three lines that name the file as the sandbox's stack, say how to edit and apply
        it, and where the secrets are.
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Put the API service in the sandbox's compose file
  oneclick.ai_sandbox.compose_service:
    path: /opt/ai-sandbox/docker-compose.yml
    project: ai-sandbox
    service: vllm
    definition:
      image: vllm/vllm-openai:v0.33.0
      restart: unless-stopped
      ports: ["0.0.0.0:8000:8000"]
"""

RETURN = r"""
services:
  description: The services in the file after the change.
  returned: always
  type: list
  elements: str
  sample: [vllm, open-webui]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False


DEFAULT_HEADER = (
    "The One-Click AI Sandbox stack. Managed by Ansible (oneclick.ai_sandbox): edit it freely and run\n"
    "`docker compose up -d` here; a re-run of the roles rewrites only the services they own, from\n"
    "their variables. Secrets live in the *.env files beside this one (root only)."
)


def render(document, header):
    lines = "".join("# %s\n" % line if line else "#\n" for line in header.splitlines())
    return lines + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "project": {"type": "str", "required": True},
            "service": {"type": "str", "required": True},
            "definition": {"type": "dict"},
            "volumes": {"type": "dict", "default": {}},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "header": {"type": "str"},
        },
        required_if=[("state", "present", ["definition"])],
        supports_check_mode=True,
    )
    if not HAS_YAML:
        if module.check_mode:
            # A first run in check mode comes before the role installs python3-yaml.
            module.exit_json(changed=True, services=[], msg="PyYAML is not installed yet; the file would be written")
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))
    params = module.params
    path = params["path"]
    before_text = ""
    document = {}
    if os.path.exists(path):
        with open(path) as handle:
            before_text = handle.read()
        try:
            document = yaml.safe_load(before_text) or {}
        except yaml.YAMLError as exc:
            module.fail_json(msg="%s is not valid YAML, so it was left as it is: %s" % (path, exc))
        if not isinstance(document, dict):
            module.fail_json(msg="%s does not hold a compose mapping, so it was left as it is" % path)

    updated = {"name": params["project"]}
    updated.update((key, value) for key, value in document.items() if key != "name")
    services = dict(updated.get("services") or {})
    if params["state"] == "present":
        services[params["service"]] = params["definition"]
    else:
        services.pop(params["service"], None)
    updated["services"] = services
    if params["volumes"]:
        volumes = dict(updated.get("volumes") or {})
        volumes.update(params["volumes"])
        updated["volumes"] = volumes
    after_text = render(updated, params["header"] or DEFAULT_HEADER)

    changed = after_text != before_text
    result = {"changed": changed, "services": sorted(services)}
    if module._diff:
        result["diff"] = {"before": before_text, "after": after_text, "before_header": path, "after_header": path}
    if changed and not module.check_mode:
        directory = os.path.dirname(path) or "."
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".docker-compose.")
        with os.fdopen(handle, "w") as out:
            out.write(after_text)
        os.chmod(temporary, 0o644)
        module.atomic_move(temporary, path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
