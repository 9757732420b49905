#!/usr/bin/python3
"""STAND-IN for modprobe, for the nvidia modules only (the kernel side of the lab's stand-in GPU).

The lab installs it as /usr/local/sbin/modprobe in each machine (before /usr/sbin on PATH). For a module
named nvidia* it does what loading the real driver does to the PCI device tree: when the module file
exists under /lib/modules/<release>/ (a stand-in driver package put it there), it binds every NVIDIA
display device to `nvidia` (the device's `driver` link), so nvidia-smi and nvidia_gpu_facts see a
loaded driver; `-r` unbinds. Errors are kmod's words. Any other module goes to the real modprobe.
"""

import os
import platform
import sys

DEVICES = os.environ.get("STANDIN_PCI_DEVICES", "/sys/bus/pci/devices")
MODULES = os.environ.get("STANDIN_MODULES_DIR", "/lib/modules")
REAL = "/usr/sbin/modprobe"
DRIVER_TARGET = "/sys/bus/pci/drivers/nvidia"


def nvidia_devices():
    for address in sorted(os.listdir(DEVICES)) if os.path.isdir(DEVICES) else []:
        base = os.path.join(DEVICES, address)
        try:
            with open(os.path.join(base, "vendor")) as vendor, open(os.path.join(base, "class")) as klass:
                if vendor.read().strip().lower() == "0x10de" and klass.read().strip().lower().startswith("0x03"):
                    yield base
        except OSError:
            continue


def module_file(release):
    for directory, _subdirs, files in os.walk(os.path.join(MODULES, release)):
        for name in files:
            if name.split(".ko")[0] == "nvidia" and ".ko" in name:
                return os.path.join(directory, name)
    return None


def bound(base):
    link = os.path.join(base, "driver")
    return os.path.islink(link) and os.path.basename(os.readlink(link)) == "nvidia"


def main(argv):
    flags = [a for a in argv if a.startswith("-")]
    names = [a for a in argv if not a.startswith("-") and "=" not in a]
    if not names or not names[0].replace("-", "_").startswith("nvidia"):
        if os.path.exists(REAL):
            os.execv(REAL, [REAL, *argv])
        sys.stderr.write("modprobe: FATAL: Module %s not found.\n" % (names[0] if names else "(none)"))
        return 1
    name, release = names[0], platform.release()
    remove, dry_run = "-r" in flags or "--remove" in flags, "-n" in flags or "--dry-run" in flags
    quiet = "-q" in flags or "--quiet" in flags
    devices = list(nvidia_devices())
    if remove:
        if not dry_run and name.replace("-", "_") == "nvidia":
            for base in devices:
                if bound(base):
                    os.unlink(os.path.join(base, "driver"))
        return 0
    if module_file(release) is None:
        if not quiet:
            sys.stderr.write("modprobe: FATAL: Module %s not found in directory %s\n"
                             % (name, os.path.join(MODULES, release)))  # fmt: skip
        return 1
    if "--first-time" in flags and devices and all(bound(base) for base in devices):
        sys.stderr.write("modprobe: ERROR: could not insert '%s': Module already in kernel\n" % name)
        return 1
    if not dry_run:
        for base in devices:
            if not bound(base):
                os.symlink(DRIVER_TARGET, os.path.join(base, "driver"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
