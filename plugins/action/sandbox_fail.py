# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sandbox_fail action: fail with a failure class of the sandbox's contract (its documentation is
in plugins/modules/sandbox_fail.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import sandbox_contract


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("reason", "params", "details"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        code = args.get("reason")
        if code not in sandbox_contract.FAILURES:
            raise AnsibleActionFail(
                "reason must be one of the failure classes of plugins/module_utils/sandbox_contract.py (%s), not %r"
                % (", ".join(sorted(sandbox_contract.FAILURES)), code)
            )
        params = args.get("params") or {}
        if not isinstance(params, dict):
            raise AnsibleActionFail("params must be a dictionary of the reason's parameters, not %r" % (params,))
        params = {to_text(k): to_text(v) for k, v in params.items()}
        details = to_text(args.get("details") or "")
        failure = sandbox_contract.render(code, params, details)
        message = "%s. What to do: %s" % (failure["reason"], failure["todo"])
        if failure["details"]:
            message += " Details: %s" % failure["details"]
        result.update(
            failed=True,
            changed=False,
            msg=message,
            reason_code=code,
            failure_params=params,
            details=failure["details"],
            phase=failure["phase"],
            exit_code=failure["exit_code"],
        )
        return result
