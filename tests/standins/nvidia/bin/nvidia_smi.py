#!/usr/bin/python3
"""STAND-IN for nvidia-smi of driver 580.95.05 (the lab's stand-in GPU; there is no GPU here).

Installed as /usr/bin/nvidia-smi by the stand-in driver packages (nvidia-utils-580-server, nvidia-smi).
It reads the PCI devices the kernel shows (/sys/bus/pci/devices, where the lab mounts a device tree with
an RTX 4000 Ada) and answers like the real tool once the driver is loaded, i.e. once a device is bound
to `nvidia` (the stand-in modprobe binds it):

  nvidia-smi --query-gpu=index,name,pci.bus_id,memory.total,driver_version --format=csv,noheader,nounits
  nvidia-smi            (the table; its header carries "CUDA Version: 13.0")

Without a bound device it fails as the real one does when no driver answers (exit 9).
"""

import os
import sys

DEVICES = os.environ.get("STANDIN_PCI_DEVICES", "/sys/bus/pci/devices")
DRIVER_VERSION = "580.95.05"
CUDA_VERSION = "13.0"
KNOWN = {0x27B2: ("NVIDIA RTX 4000 Ada Generation", 20475), 0x27B0: ("NVIDIA RTX 4000 SFF Ada Generation", 20475)}
NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
    "NVIDIA driver is installed and running.\n"
)


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def gpus():
    """[(index, name, bus_id, memory_mib)] of the NVIDIA display devices bound to the nvidia driver."""
    found = []
    for address in sorted(os.listdir(DEVICES)) if os.path.isdir(DEVICES) else []:
        base = os.path.join(DEVICES, address)
        if read(os.path.join(base, "vendor")).lower() != "0x10de":
            continue
        if not read(os.path.join(base, "class")).lower().startswith("0x03"):
            continue
        link = os.path.join(base, "driver")
        if not os.path.islink(link) or os.path.basename(os.readlink(link)) != "nvidia":
            continue
        name, memory = KNOWN.get(int(read(os.path.join(base, "device")) or "0", 16), ("NVIDIA Graphics Device", 0))
        domain, _sep, rest = address.partition(":")
        found.append((len(found), name, "%08X:%s" % (int(domain, 16), rest.upper()), memory))
    return found


FIELDS = {
    "index": lambda g: str(g[0]),
    "name": lambda g: g[1],
    "pci.bus_id": lambda g: g[2],
    "memory.total": lambda g: str(g[3]),
    "memory.used": lambda g: "0",
    "driver_version": lambda g: DRIVER_VERSION,
    "persistence_mode": lambda g: "Enabled",
}


def table(devices):
    lines = [
        "+-----------------------------------------------------------------------------------------+",
        "| NVIDIA-SMI %s              Driver Version: %s      CUDA Version: %s     |"
        % (DRIVER_VERSION, DRIVER_VERSION, CUDA_VERSION),
        "|-----------------------------------------+------------------------+----------------------+",
    ]
    for index, name, bus_id, memory in devices:
        lines.append("|   %d  %-36s|   %s Off |                  Off |" % (index, name[:36], bus_id[4:]))
        usage = "| 30%%   35C    P8             10W /  130W |       0MiB / %5dMiB |" % memory
        lines.append(usage + "      0%      Default |")
    lines.append("+-----------------------------------------------------------------------------------------+")
    return "\n".join(lines) + "\n"


def main(argv):
    devices = gpus()
    if not devices:
        sys.stdout.write(NO_DRIVER)
        return 9
    if not argv:
        sys.stdout.write(table(devices))
        return 0
    query = [a for a in argv if a.startswith("--query-gpu=")]
    formats = [a for a in argv if a.startswith("--format=")]
    if query and formats:
        fields = query[0].split("=", 1)[1].split(",")
        unknown = [f for f in fields if f not in FIELDS]
        if unknown:
            sys.stdout.write('Field "%s" is not a valid field to query.\n' % unknown[0])
            return 2
        options = formats[0].split("=", 1)[1].split(",")
        if "noheader" not in options:
            sys.stdout.write(", ".join(fields) + "\n")
        for device in devices:
            sys.stdout.write(", ".join(FIELDS[f](device) for f in fields) + "\n")
        return 0
    sys.stdout.write("nvidia-smi stand-in: arguments not implemented: %s\n" % " ".join(argv))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
