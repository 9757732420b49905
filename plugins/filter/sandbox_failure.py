# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sandbox_failure and sandbox_failure_motd filters; their documentation is in the .yml files beside
this file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import sandbox_contract


def _failed_item(result):
    """The result that carries the failure: the task's own, or the first failed item of a loop."""
    if result.get("reason_code") or not isinstance(result.get("results"), list):
        return result
    for item in result["results"]:
        if isinstance(item, dict) and item.get("failed"):
            return item
    return result


def sandbox_failure(result, task="", stage="", params=None):
    """The site playbook's failure report from the failed task's result: the failure class the step
    named (its reason_code), rendered from the contract; step_failed in the stage's phase otherwise."""
    result = _failed_item(result if isinstance(result, dict) else {"msg": str(result)})
    code = result.get("reason_code")
    values = dict(params or {})
    values.update(result.get("failure_params") or {})
    values.setdefault("step", task or "unnamed task")
    # sandbox_fail's msg repeats the reason: keep only what the step said.
    details = (result.get("details") or "") if "failure_params" in result else (result.get("msg") or "no message")
    failure = sandbox_contract.render(code, values, details, phase=sandbox_contract.stage_default_phase(stage))
    failure["task"] = task or ""
    return failure


def sandbox_failure_motd(failure, log_file="", status_file=""):
    """/etc/motd for a failed setup, the same text the StackScript writes for its own failures."""
    return sandbox_contract.failure_motd(failure, log_file=log_file, status_file=status_file)


class FilterModule(object):
    def filters(self):
        return {"sandbox_failure": sandbox_failure, "sandbox_failure_motd": sandbox_failure_motd}
