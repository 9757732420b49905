"""STAND-IN for /proc/modules, for the machines' Python (the lab's stand-in GPU, real-scale profile).

The test bed's kernel is built without module support: it has no /proc/modules, which a real Linode's
kernel has and community.general.modprobe reads to know whether a module is loaded. When that file is
missing, the lab makes Python processes of the machine (through a .pth file in the system's
site-packages) read this view instead: `nvidia` is listed while the stand-in GPU is bound to it, as the
kernel's file would list it. Every other file opens as before.
"""

import builtins
import io
import os

DEVICES = "/sys/bus/pci/devices"
_open = builtins.open


def listing():
    for address in sorted(os.listdir(DEVICES)) if os.path.isdir(DEVICES) else []:
        link = os.path.join(DEVICES, address, "driver")
        if os.path.islink(link) and os.path.basename(os.readlink(link)) == "nvidia":
            return "nvidia 104857600 0 - Live 0x0000000000000000\n"
    return ""


def open_with_proc_modules(file, mode="r", *args, **kwargs):
    if file == "/proc/modules" and "r" in mode and not os.path.exists("/proc/modules"):
        text = listing()
        return io.BytesIO(text.encode()) if "b" in mode else io.StringIO(text)
    return _open(file, mode, *args, **kwargs)


if not os.path.exists("/proc/modules"):
    builtins.open = open_with_proc_modules
