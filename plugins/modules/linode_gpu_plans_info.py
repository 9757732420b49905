#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: linode_gpu_plans_info
short_description: The RTX 4000 Ada plans and the regions that offer them now
version_added: 0.1.0
description:
  - Reads C(/linode/types), C(/regions) and C(/regions/availability) and returns the RTX 4000 Ada
    plans (GPUs, GPU memory, vCPUs, RAM, disk, price) and, for each of the sandbox's regions, the
    plans available there at this moment. The provision playbook builds its numbered prompts from it.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
  - oneclick.ai_sandbox.linode_client
requirements:
  - linode_api4 >= 5.0
options: {}
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
- name: Where can I get an RTX 4000 Ada now?
  oneclick.ai_sandbox.linode_gpu_plans_info:
  register: offers
"""

RETURN = r"""
plans:
  description: RTX 4000 Ada plans, fewest GPUs and smallest first.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: g2-gpu-rtx4000a1-s, label: RTX4000 Ada x1 Small, gpus: 1, gpu_memory_gb: 20, vcpus: 4,
       memory_gb: 16, disk_gb: 512, price_hourly: 0.52, price_monthly: 350.0}
regions:
  description: The sandbox's regions, each with its label and the plans available there now.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: us-ord, label: "Chicago, IL", plans: [g2-gpu-rtx4000a1-s]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode as common
from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode_input as rules

GPU_MEMORY_GB = 20  # an RTX 4000 Ada carries 20 GB


def main():
    module = AnsibleModule(argument_spec=common.client_argument_spec(), supports_check_mode=True)
    client = common.module_client(module)
    try:
        plans = common.gpu_plans(client.get_all("/linode/types"))
        labels = {r["id"]: r.get("label", r["id"]) for r in client.get_all("/regions")}
        offers = client.get_all("/regions/availability")
    except common.LinodeError as exc:
        module.fail_json(msg=exc.message, status=exc.status)
    plan_list = sorted(
        (
            {
                "id": plan["id"],
                "label": plan.get("label", plan["id"]),
                "gpus": plan["gpus"],
                "gpu_memory_gb": plan["gpus"] * GPU_MEMORY_GB,
                "vcpus": plan.get("vcpus"),
                "memory_gb": round((plan.get("memory") or 0) / 1024),
                "disk_gb": round((plan.get("disk") or 0) / 1024),
                "price_hourly": (plan.get("price") or {}).get("hourly"),
                "price_monthly": (plan.get("price") or {}).get("monthly"),
            }
            for plan in plans.values()
        ),
        key=lambda p: (p["gpus"], p["vcpus"] or 0, p["id"]),
    )
    order = [p["id"] for p in plan_list]
    regions = []
    for region in rules.RTX4000_REGIONS:
        available = {o["plan"] for o in offers if o.get("region") == region and o.get("available")}
        regions.append(
            {"id": region, "label": labels.get(region, region), "plans": [p for p in order if p in available]}
        )
    module.exit_json(changed=False, plans=plan_list, regions=regions)


if __name__ == "__main__":
    main()
