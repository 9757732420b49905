#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_gpu_facts
short_description: Find NVIDIA GPUs on the PCI bus and read the loaded driver's view of them
version_added: 0.1.0
description:
  - Lists NVIDIA display-class PCI devices (vendor C(0x10de), class C(0x03xxxx)) from sysfs, without
    depending on the output format of C(lspci).
  - When C(nvidia-smi) is installed and the driver answers, adds each GPU's name and memory as the
    driver reports them, the driver version and the CUDA version the driver supports.
  - Sets the fact C(ai_sandbox_gpu), which the other roles of this collection use for sizing and for
    deciding whether GPU support is needed.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
  - oneclick.ai_sandbox.attributes.facts
options:
  sysfs_pci_path:
    description:
      - The sysfs directory that holds one entry per PCI device.
      - Change it only to inspect another root file system (a chroot, an image).
    type: path
    default: /sys/bus/pci/devices
  pci_ids_path:
    description:
      - A C(pci.ids) file to name GPUs that this collection does not know by id.
      - When not set, the usual locations of the C(pciutils)/C(hwdata) file are tried.
    type: path
  query_driver:
    description:
      - Ask C(nvidia-smi) for names, memory, driver and CUDA versions when it is installed.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
  facts:
    support: full
  idempotent:
    support: full
notes:
  - A GPU that C(nvidia-smi) does not list while it is on the PCI bus is reported with
    RV(ansible_facts.ai_sandbox_gpu.driver_loaded=false) when no GPU answers at all.
"""

EXAMPLES = r"""
- name: Find NVIDIA GPUs
  oneclick.ai_sandbox.nvidia_gpu_facts:

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ ansible_facts.ai_sandbox_gpu.count }} x {{ ansible_facts.ai_sandbox_gpu.names | join(', ') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts about the NVIDIA GPUs of the host.
  returned: always
  type: dict
  contains:
    ai_sandbox_gpu:
      description: The NVIDIA GPUs of the host and the state of their driver.
      type: dict
      returned: always
      contains:
        count:
          description: How many NVIDIA display-class devices are on the PCI bus.
          type: int
          sample: 1
        names:
          description: The GPU model names, in PCI address order.
          type: list
          elements: str
          sample: ["NVIDIA RTX 4000 Ada Generation"]
        memory_mib:
          description: Memory of each GPU in MiB (the driver's figure when it answers; else known
            values for GPUs this collection knows; null when unknown).
          type: list
          elements: int
          sample: [20475]
        devices:
          description: One entry per GPU with C(pci_address), C(device_id), C(class), C(name),
            C(memory_mib) and C(kernel_driver) (the bound kernel driver, such as C(nouveau) or C(nvidia)).
          type: list
          elements: dict
        driver_loaded:
          description: Whether C(nvidia-smi) answered for every GPU on the bus.
          type: bool
          sample: true
        driver_version:
          description: The NVIDIA driver version, when loaded.
          type: str
          sample: "580.95.05"
        cuda_version:
          description: The newest CUDA version the loaded driver supports.
          type: str
          sample: "13.0"
        smi_error:
          description: Why C(nvidia-smi) gave no answer, when it is installed but failed.
          type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils.nvidia import (
    SMI_QUERY,
    load_pci_names,
    merge_smi,
    parse_smi_cuda_version,
    parse_smi_query,
    scan_pci,
)


def query_smi(module, devices):
    """Ask nvidia-smi; return (driver_version, cuda_version, error)."""
    smi = module.get_bin_path("nvidia-smi")
    if not smi:
        return None, None, None
    rc, out, err = module.run_command([smi, "--query-gpu=" + SMI_QUERY, "--format=csv,noheader,nounits"])
    if rc != 0:
        return None, None, (err or out).strip() or "nvidia-smi exited with %d" % rc
    try:
        rows = parse_smi_query(out)
    except ValueError as exc:
        return None, None, str(exc)
    merge_smi(devices, rows)
    if len(rows) < len(devices):
        return None, None, "nvidia-smi lists %d of the %d NVIDIA GPUs on the PCI bus" % (len(rows), len(devices))
    rc, out, err = module.run_command([smi])
    cuda = parse_smi_cuda_version(out) if rc == 0 else None
    return rows[0]["driver_version"] if rows else None, cuda, None


def main():
    module = AnsibleModule(
        argument_spec={
            "sysfs_pci_path": {"type": "path", "default": "/sys/bus/pci/devices"},
            "pci_ids_path": {"type": "path"},
            "query_driver": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    devices = scan_pci(module.params["sysfs_pci_path"], load_pci_names(module.params["pci_ids_path"]))
    driver_version = cuda_version = smi_error = None
    if devices and module.params["query_driver"]:
        driver_version, cuda_version, smi_error = query_smi(module, devices)
    facts = {
        "count": len(devices),
        "names": [device["name"] for device in devices],
        "memory_mib": [device["memory_mib"] for device in devices],
        "devices": devices,
        "driver_loaded": bool(devices) and driver_version is not None,
        "driver_version": driver_version,
        "cuda_version": cuda_version,
        "smi_error": smi_error,
    }
    module.exit_json(changed=False, ansible_facts={"ai_sandbox_gpu": facts})


if __name__ == "__main__":
    main()
