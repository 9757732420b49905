#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sandbox_fail
short_description: Fail with one of the sandbox's failure classes
version_added: 0.1.0
description:
  - Stops the play the way M(ansible.builtin.fail) does, with a reason code from the collection's one failure
    contract (C(plugins/module_utils/sandbox_contract.py)) instead of a sentence that a later layer would have to
    parse.
  - The message is the class's reason and what to do, rendered from O(params); the result carries
    RV(reason_code), the phase and the exit code the first boot reports for it.
  - The site playbook reports RV(reason_code) in C(/var/lib/ai-sandbox/site-report.json) and C(/etc/motd); the
    StackScript exits with RV(exit_code).
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
options:
  reason:
    description: The failure class, a key of C(FAILURES) in C(sandbox_contract.py) (for example C(port_in_use)).
    type: str
    required: true
  params:
    description: The class's parameters (for example C(port) and C(program)); a missing one shows as C(<name>).
    type: dict
    default: {}
  details:
    description: What the failed step itself said (a log tail, a module's message); shown after the reason.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    details: It fails the same way in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    support: full
    description: Runs on the controller.
notes:
  - This is an action plugin; there is no module code to run on the host.
"""

EXAMPLES = r"""
- name: Fail when another program holds the port
  oneclick.ai_sandbox.sandbox_fail:
    reason: port_in_use
    params:
      port: 8000
      program: python3
      setting: vllm_service_port
  when: port_taken
"""

RETURN = r"""
msg:
  description: The reason and what to do, in plain words.
  returned: always
  type: str
  sample: "port 8000 already in use (python3). What to do: Stop the program that holds the port ..."
reason_code:
  description: The failure class.
  returned: always
  type: str
  sample: port_in_use
failure_params:
  description: The parameters the message was rendered from.
  returned: always
  type: dict
phase:
  description: The phase the class belongs to, as the status file and C(/etc/motd) name it.
  returned: always
  type: str
  sample: engine start
exit_code:
  description: The exit code of the first boot for this class.
  returned: always
  type: int
  sample: 14
"""
