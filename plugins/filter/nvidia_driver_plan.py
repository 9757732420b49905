# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nvidia_driver_plan filter; its documentation is in nvidia_driver_plan.yml beside this file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils.nvidia import DriverPlanError, driver_plan


def nvidia_driver_plan(
    facts,
    branch,
    source="nvidia",
    open_modules=True,
    repo_url=None,
    key_url=None,
    method="auto",
    precompiled_available=False,
):
    """Repository and packages for an NVIDIA driver branch on the host described by ``facts``."""
    try:
        return driver_plan(
            distribution=facts.get("distribution"),
            major_version=facts.get("distribution_major_version"),
            branch=branch,
            source=source,
            architecture=facts.get("architecture", "x86_64"),
            kernel=facts.get("kernel"),
            open_modules=open_modules,
            repo_url=repo_url or None,
            key_url=key_url or None,
            method=method,
            precompiled_available=bool(precompiled_available),
        )
    except DriverPlanError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule(object):
    def filters(self):
        return {"nvidia_driver_plan": nvidia_driver_plan}
