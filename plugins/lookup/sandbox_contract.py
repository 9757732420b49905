# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: sandbox_contract
version_added: 0.1.0
short_description: Read the sandbox's failure contract (phases, stages, failure classes)
description:
  - Returns parts of the one table every layer of the sandbox reads (C(plugins/module_utils/sandbox_contract.py)),
    so that playbooks and tests name phases and failure classes from it instead of spelling them again.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
options:
  _terms:
    description:
      - What to return. C(defaults) - what a sandbox is by default (model, ports, directories), the values the
        roles' defaults have; C(phases) - every phase as C({id, label, exit_code}) in the order a first boot goes
        through them; C(stages) - the site playbook's stages (its tags); C(site_phase_labels) - the labels of the
        phases a complete site run reports, in order; C(failures) - every failure class as
        C({code, phase, exit_code, reason, todo}) with its texts unrendered.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Check the phases of a report
  ansible.builtin.assert:
    that: >-
      report.phases | map(attribute='phase') | list
      == lookup('oneclick.ai_sandbox.sandbox_contract', 'site_phase_labels')
"""

RETURN = r"""
_raw:
  description: One value per term (a list of phases, stages, labels or failure classes).
  type: list
  elements: raw
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import sandbox_contract as contract


def _site_phase_labels():
    labels = []
    for tag, parts, _default in contract.STAGES:
        if tag == "motd":
            continue
        labels.extend(contract.PHASE_LABELS[part] for part in (parts or [tag]))
    return labels


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        answers = {
            "defaults": lambda: dict(contract.DEFAULTS),
            "phases": lambda: [{"id": i, "label": label, "exit_code": code} for i, label, code in contract.PHASES],
            "stages": lambda: list(contract.STAGE_TAGS),
            "site_phase_labels": _site_phase_labels,
            "failures": lambda: [
                {
                    "code": code,
                    "phase": contract.PHASE_LABELS[entry["phase"]],
                    "exit_code": contract.PHASE_EXIT_CODES[entry["phase"]],
                    "reason": entry["reason"],
                    "todo": entry["todo"],
                }
                for code, entry in sorted(contract.FAILURES.items())
            ],
        }
        results = []
        for term in terms:
            if term not in answers:
                raise AnsibleError("sandbox_contract: %r is not one of %s" % (term, ", ".join(sorted(answers))))
            results.append(answers[term]())
        return results
