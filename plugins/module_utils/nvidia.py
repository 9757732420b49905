# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA GPU facts and driver package selection.

Private to this collection. Three jobs, each pure Python and unit-tested:
- find NVIDIA GPUs on the PCI bus from sysfs (vendor 0x10de, display class), independent of any
  lspci output format;
- read what ``nvidia-smi`` reports once the driver is loaded;
- decide, per supported OS, which repository and packages give a driver branch that the pinned
  vLLM image can use.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

NVIDIA_VENDOR_ID = 0x10DE
PCI_CLASS_DISPLAY = 0x03

# vLLM 0.33.0 is built for CUDA 13.0; CUDA 13.0 needs driver branch 580 or newer.
VLLM_CUDA_VERSION = "13.0"
MIN_DRIVER_BRANCH = 580

# GPUs we know by PCI device id: the name NVIDIA gives them and the memory nvidia-smi reports
# (MiB). Used before a driver is loaded (sizing, messages); nvidia-smi is the truth after.
KNOWN_GPUS = {
    0x27B2: ("NVIDIA RTX 4000 Ada Generation", 20475),
    0x27B0: ("NVIDIA RTX 4000 SFF Ada Generation", 20475),
    0x1E30: ("Quadro RTX 6000", 24576),
    0x26B1: ("NVIDIA RTX 6000 Ada Generation", 49140),
}

PCI_IDS_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")

# (distribution, major version) -> the directory name of NVIDIA's CUDA repository.
SUPPORTED_OS = {
    ("Ubuntu", "22"): "ubuntu2204",
    ("Ubuntu", "24"): "ubuntu2404",
    ("Debian", "12"): "debian12",
}
NVIDIA_REPO_ARCH = {"x86_64": "x86_64", "aarch64": "sbsa"}
NVIDIA_REPO_BASE = "https://developer.download.nvidia.com/compute/cuda/repos"
NVIDIA_REPO_KEY = "3bf863cc.pub"
SOURCES = ("nvidia", "distribution")
METHODS = ("auto", "precompiled", "dkms")


def precompiled_modules_package(branch, kernel, open_modules=True):
    """Ubuntu's signed, prebuilt kernel modules of a driver branch for one kernel (no DKMS build):
    linux-modules-nvidia-<branch>-server[-open]-<uname -r>."""
    return "linux-modules-nvidia-%s-server%s-%s" % (branch, "-open" if open_modules else "", kernel)


class DriverPlanError(ValueError):
    """A driver request that cannot be met; the message names the field, value and what is allowed."""


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _hex(value):
    try:
        return int(value, 16)
    except (TypeError, ValueError):
        return None


def load_pci_names(path=None):
    """Device names of vendor 10de from a pci.ids file: {device_id: name}. Empty when absent."""
    candidates = [path] if path else list(PCI_IDS_PATHS)
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            with open(candidate, "rb") as handle:
                return parse_pci_ids(handle.read().decode("utf-8", "replace"))
    return {}


def parse_pci_ids(text):
    """Parse the pci.ids format: a vendor line at column 0, its devices indented by one tab."""
    names = {}
    in_nvidia = False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith("\t"):
            in_nvidia = line[:4].lower() == "10de"
            continue
        if in_nvidia and not line.startswith("\t\t"):
            device, _sep, name = line.strip().partition(" ")
            device_id = _hex(device)
            if device_id is not None:
                names[device_id] = name.strip()
    return names


def scan_pci(devices_path="/sys/bus/pci/devices", pci_names=None):
    """NVIDIA display-class devices under a sysfs PCI devices directory, sorted by address."""
    pci_names = pci_names or {}
    found = []
    if not os.path.isdir(devices_path):
        return found
    for address in sorted(os.listdir(devices_path)):
        base = os.path.join(devices_path, address)
        vendor = _hex(_read(os.path.join(base, "vendor")))
        pci_class = _hex(_read(os.path.join(base, "class")))
        if vendor != NVIDIA_VENDOR_ID or pci_class is None or pci_class >> 16 != PCI_CLASS_DISPLAY:
            continue
        device_id = _hex(_read(os.path.join(base, "device")))
        known_name, known_memory = KNOWN_GPUS.get(device_id, (None, None))
        driver_link = os.path.join(base, "driver")
        driver = os.path.basename(os.path.realpath(driver_link)) if os.path.islink(driver_link) else None
        found.append(
            {
                "pci_address": address,
                "device_id": "0x%04x" % device_id if device_id is not None else None,
                "class": "0x%06x" % pci_class,
                "name": known_name or pci_names.get(device_id) or "NVIDIA device 0x%04x" % (device_id or 0),
                "memory_mib": known_memory,
                "kernel_driver": driver,
            }
        )
    return found


SMI_QUERY = "index,name,pci.bus_id,memory.total,driver_version"


def parse_smi_query(text):
    """Rows of ``nvidia-smi --query-gpu=<SMI_QUERY> --format=csv,noheader,nounits``."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 5:
            raise ValueError("unexpected nvidia-smi output line: %r" % line)
        index, name, bus_id, memory, driver = fields
        rows.append(
            {
                "index": int(index),
                "name": name,
                "pci_bus_id": bus_id,
                "memory_mib": int(float(memory)),
                "driver_version": driver,
            }
        )
    return rows


def parse_smi_cuda_version(text):
    """The 'CUDA Version: X.Y' that plain ``nvidia-smi`` prints in its header, or None."""
    match = re.search(r"CUDA Version:\s*([0-9]+\.[0-9]+)", text)
    return match.group(1) if match else None


def normalise_bus_id(bus_id):
    """nvidia-smi prints 00000000:01:00.0, sysfs names it 0000:01:00.0: compare on domain:bus:dev.fn."""
    domain, _sep, rest = bus_id.lower().partition(":")
    return "%04x:%s" % (int(domain, 16), rest)


def merge_smi(devices, smi_rows):
    """Fill in the names and memory nvidia-smi reports on the devices found on the PCI bus."""
    by_address = {normalise_bus_id(row["pci_bus_id"]): row for row in smi_rows}
    for device in devices:
        row = by_address.get(device["pci_address"].lower())
        if row:
            device["name"] = row["name"]
            device["memory_mib"] = row["memory_mib"]
            device["index"] = row["index"]
    return devices


def driver_plan(
    distribution,
    major_version,
    branch,
    source="nvidia",
    architecture="x86_64",
    kernel=None,
    open_modules=True,
    repo_url=None,
    key_url=None,
    method="auto",
    precompiled_available=False,
):
    """What to install for an NVIDIA driver of ``branch`` on this OS.

    ``method``: ``precompiled`` installs the archive's signed modules built for the running kernel
    (``linux-modules-nvidia-<branch>-server-open-<kernel>``, Ubuntu's; seconds instead of a DKMS build of
    minutes, and nothing to rebuild at a kernel update), ``dkms`` builds them, ``auto`` takes the prebuilt
    modules when ``precompiled_available`` (apt offers that package for this kernel) and DKMS otherwise.

    Returns a dict: ``method``, ``source``, ``repo_url``/``key_url`` (None for the distribution's archive),
    ``pinning_packages`` (install first: they hold apt to the branch), ``packages``, ``hold_packages``
    (held against unattended upgrades: a newer userspace library than the loaded module breaks NVML until
    a reboot), ``precompiled_package`` (the package to ask apt about).
    Raises DriverPlanError with a message naming the field, the value and what is allowed.
    """
    major = str(major_version).split(".", maxsplit=1)[0]
    os_key = (distribution, major)
    if os_key not in SUPPORTED_OS:
        raise DriverPlanError(
            "nvidia_driver: unsupported OS %s %s; supported: %s"
            % (distribution, major_version, ", ".join("%s %s" % key for key in sorted(SUPPORTED_OS)))
        )
    try:
        branch = int(branch)
    except (TypeError, ValueError):
        raise DriverPlanError(
            "nvidia_driver_branch: %r is not a driver branch number such as 580" % (branch,)
        ) from None
    if branch < MIN_DRIVER_BRANCH:
        raise DriverPlanError(
            "nvidia_driver_branch: %d is too old; the pinned vLLM image is built for CUDA %s, "
            "which needs branch %d or newer" % (branch, VLLM_CUDA_VERSION, MIN_DRIVER_BRANCH)
        )
    if source not in SOURCES:
        raise DriverPlanError("nvidia_driver_source: %r is not one of %s" % (source, ", ".join(SOURCES)))
    if architecture not in NVIDIA_REPO_ARCH:
        raise DriverPlanError(
            "architecture %r is not supported; supported: %s" % (architecture, ", ".join(sorted(NVIDIA_REPO_ARCH)))
        )

    if method not in METHODS:
        raise DriverPlanError("nvidia_driver_method: %r is not one of %s" % (method, ", ".join(METHODS)))
    precompiled = precompiled_modules_package(branch, kernel, open_modules) if kernel else None
    if method == "precompiled" and not precompiled_available:
        raise DriverPlanError(
            "nvidia_driver_method: 'precompiled' needs %s, which apt does not offer for this kernel (%s); use 'auto' "
            "or 'dkms'" % (precompiled or "linux-modules-nvidia-%d-server-open-<kernel>" % branch, kernel)
        )
    if method != "dkms" and precompiled_available and precompiled:
        # The archive that built the modules also carries the matching userspace, without DKMS.
        flavour = "server-open" if open_modules else "server"
        packages = [precompiled, "nvidia-headless-no-dkms-%d-%s" % (branch, flavour), "nvidia-utils-%d-server" % branch]
        return {
            "method": "precompiled",
            "source": "distribution",
            "branch": branch,
            "repo_url": None,
            "key_url": None,
            "pinning_packages": [],
            "packages": packages,
            "hold_packages": list(packages),
            "precompiled_package": precompiled,
        }

    headers = ["dkms", "linux-headers-%s" % kernel] if kernel else ["dkms"]
    plan = {
        "method": "dkms",
        "source": source,
        "branch": branch,
        "repo_url": None,
        "key_url": None,
        "pinning_packages": [],
        "precompiled_package": precompiled,
    }

    if source == "distribution":
        if distribution != "Ubuntu":
            raise DriverPlanError(
                "nvidia_driver_source: 'distribution' is only offered on Ubuntu; %s %s's own archive "
                "has no branch %d driver (vLLM needs %d or newer). Use 'nvidia'."
                % (distribution, major, branch, MIN_DRIVER_BRANCH)
            )
        plan["packages"] = _ubuntu_names(branch, open_modules) + headers
        plan["hold_packages"] = _ubuntu_names(branch, open_modules)
        return plan

    default_repo = "%s/%s/%s/" % (NVIDIA_REPO_BASE, SUPPORTED_OS[os_key], NVIDIA_REPO_ARCH[architecture])
    plan["repo_url"] = repo_url or default_repo
    plan["key_url"] = key_url or plan["repo_url"].rstrip("/") + "/" + NVIDIA_REPO_KEY
    plan["pinning_packages"] = ["nvidia-driver-pinning-%d" % branch]
    if distribution == "Ubuntu":
        plan["packages"] = _ubuntu_names(branch, open_modules) + headers
        plan["hold_packages"] = _ubuntu_names(branch, open_modules)
    else:
        # NVIDIA's Debian packages carry no branch in their names; the pinning package holds them.
        kernel_module = "nvidia-kernel-open-dkms" if open_modules else "nvidia-kernel-dkms"
        plan["packages"] = [kernel_module, "nvidia-driver-cuda", "nvidia-persistenced", *headers]
        plan["hold_packages"] = [kernel_module, "nvidia-driver-cuda", "nvidia-persistenced"]
    return plan


def _ubuntu_names(branch, open_modules):
    # Compute-only: no X server or desktop libraries on a headless GPU server.
    dkms = "nvidia-dkms-%d-open" % branch if open_modules else "nvidia-dkms-%d" % branch
    return [dkms, "libnvidia-compute-%d" % branch, "nvidia-utils-%d" % branch, "nvidia-compute-utils-%d" % branch]
