"""STAND-IN driver packages and the apt repositories that serve them (the lab's real-scale profile).

No GPU, no Ubuntu archive and no NVIDIA repository are reachable here, so the lab builds packages with
the names the nvidia_driver and docker_gpu roles install (dpkg-deb), in three signed flat repositories
served over HTTP to the machines (tests/standins/mirrors/mirror_server.py, throttled):

  ubuntu-archive/                        what Ubuntu's archive offers for the running kernel: the prebuilt
                                         modules (linux-modules-nvidia-580-server-open-<uname -r>) and the
                                         userspace without DKMS, plus dkms and linux-headers-<uname -r>;
                                         the lab adds it to each machine as the archive would be
  nvidia-cuda/debian12/x86_64/           NVIDIA's CUDA repository (the DKMS plan of plugins/module_utils/
                                         nvidia.py for Debian 12): pinning package, open DKMS modules, ...
  libnvidia-container/stable/deb/amd64/  the NVIDIA Container Toolkit's repository

Each package carries incompressible padding of its scaled size (the profile's `driver.*.packages`), so
its download takes the profile's time through the throttled server, and its postinst spends the profile's
CPU time for the work it stands for: the DKMS build (`driver.dkms.build_seconds`, only when the kernel
headers are there, failing as dkms does otherwise), unpacking and the initramfs (`install_seconds`). The
files that matter are the stand-ins in bin/: nvidia-smi, nvidia-persistenced, the container runtime
hook, nvidia-ctk. The module "file" they install is what the stand-in modprobe (bin/modprobe.py) loads.
"""

import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "bin")
KEY_NAME = "ai-sandbox lab repositories (stand-in) <lab@ai-sandbox.invalid>"
ORIGIN = "ai-sandbox-lab"

ARCHIVE = "ubuntu-archive"
NVIDIA = "nvidia-cuda/debian12/x86_64"
TOOLKIT = "libnvidia-container/stable/deb/amd64"

PERSISTENCED_UNIT = """[Unit]
Description=NVIDIA Persistence Daemon (stand-in)

[Service]
ExecStart=/usr/bin/nvidia-persistenced

[Install]
WantedBy=multi-user.target
"""
# The real pinning package holds apt to the branch's versions.
PINNING = """Package: nvidia-* libnvidia-* libcuda1 firmware-nvidia-gsp
Pin: version 580.95.05-*
Pin-Priority: 1000
"""

# name (with {kernel}) -> where it is published, its version, what it needs, the files it installs
# (target -> stand-in in bin/, or text), and which profile time its postinst spends.
SPECS = {
    # Ubuntu's archive: prebuilt modules for the running kernel and the userspace without DKMS.
    "linux-modules-nvidia-580-server-open-{kernel}": {
        "repo": ARCHIVE, "version": "580.95.05-0ubuntu0.22.04.2", "depends": ["nvidia-kernel-common-580-server"],
        "files": {"/lib/modules/{kernel}/kernel/nvidia-580srv/nvidia.ko": "stand-in kernel module\n"},
        "work": ("precompiled", "install_seconds", "depmod, signed modules, update-initramfs"),
    },
    "nvidia-headless-no-dkms-580-server-open": {
        "repo": ARCHIVE, "version": "580.95.05-0ubuntu0.22.04.2",
        "depends": ["nvidia-kernel-common-580-server", "libnvidia-compute-580-server",
                    "nvidia-firmware-580-server-580.95.05", "nvidia-compute-utils-580-server"],
    },
    "nvidia-kernel-common-580-server": {"repo": ARCHIVE, "version": "580.95.05-0ubuntu0.22.04.2"},
    "libnvidia-compute-580-server": {"repo": ARCHIVE, "version": "580.95.05-0ubuntu0.22.04.2"},
    "nvidia-firmware-580-server-580.95.05": {"repo": ARCHIVE, "version": "580.95.05-0ubuntu0.22.04.2"},
    "nvidia-compute-utils-580-server": {
        "repo": ARCHIVE, "version": "580.95.05-0ubuntu0.22.04.2",
        "files": {"/usr/bin/nvidia-persistenced": "persistenced.sh",
                  "/lib/systemd/system/nvidia-persistenced.service": PERSISTENCED_UNIT},
    },
    "nvidia-utils-580-server": {
        "repo": ARCHIVE, "version": "580.95.05-0ubuntu0.22.04.2", "files": {"/usr/bin/nvidia-smi": "nvidia_smi.py"},
    },
    "dkms": {"repo": ARCHIVE, "version": "3.0.10-8lab1", "files": {"/usr/sbin/dkms": "dkms.sh"}},
    "linux-headers-{kernel}": {
        "repo": ARCHIVE, "version": "1.0-0lab1",
        "files": {"/usr/src/linux-headers-{kernel}/Makefile": "# stand-in kernel headers\n"},
    },
    # NVIDIA's CUDA repository (Debian 12): DKMS.
    "nvidia-driver-pinning-580": {
        "repo": NVIDIA, "version": "580.95.05-1",
        "files": {"/etc/apt/preferences.d/nvidia-driver-pinning-580": PINNING},
    },
    "nvidia-kernel-open-dkms": {
        "repo": NVIDIA, "version": "580.95.05-1", "depends": ["dkms"], "dkms": True,
        "work": ("dkms", "build_seconds", "DKMS build of the open kernel modules"),
    },
    "nvidia-driver-cuda": {
        "repo": NVIDIA, "version": "580.95.05-1",
        "depends": ["nvidia-smi", "libcuda1", "libnvidia-ml1", "firmware-nvidia-gsp"],
        "work": ("dkms", "install_seconds", "unpacking the driver, update-initramfs"),
    },
    "libcuda1": {"repo": NVIDIA, "version": "580.95.05-1"},
    "libnvidia-ml1": {"repo": NVIDIA, "version": "580.95.05-1"},
    "firmware-nvidia-gsp": {"repo": NVIDIA, "version": "580.95.05-1"},
    "nvidia-smi": {"repo": NVIDIA, "version": "580.95.05-1", "files": {"/usr/bin/nvidia-smi": "nvidia_smi.py"}},
    "nvidia-persistenced": {
        "repo": NVIDIA, "version": "580.95.05-1",
        "files": {"/usr/bin/nvidia-persistenced": "persistenced.sh",
                  "/lib/systemd/system/nvidia-persistenced.service": PERSISTENCED_UNIT},
    },
    # The NVIDIA Container Toolkit.
    "nvidia-container-toolkit": {
        "repo": TOOLKIT, "version": "1.17.8-1",
        "depends": ["nvidia-container-toolkit-base", "libnvidia-container-tools"],
        "files": {"/usr/bin/nvidia-container-runtime-hook": "container_runtime_hook.py"},
        "work": ("toolkit", "install_seconds", "the container toolkit"),
    },
    "nvidia-container-toolkit-base": {
        "repo": TOOLKIT, "version": "1.17.8-1",
        "files": {"/usr/bin/nvidia-ctk": "nvidia_ctk.sh", "/usr/bin/nvidia-container-runtime": "container_runtime.sh"},
    },
    "libnvidia-container-tools": {"repo": TOOLKIT, "version": "1.17.8-1", "depends": ["libnvidia-container1"]},
    "libnvidia-container1": {"repo": TOOLKIT, "version": "1.17.8-1"},
}  # fmt: skip

METHODS = ("precompiled", "dkms", "toolkit")


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise RuntimeError("%s exited with %d: %s" % (" ".join(command), result.returncode, result.stderr))
    return result.stdout


def ensure_key(gnupg_home):
    """A signing key for the lab's repositories (made once); its armored public key."""
    os.makedirs(gnupg_home, mode=0o700, exist_ok=True)
    gpg = ["gpg", "--batch", "--homedir", gnupg_home]
    if not run([*gpg, "--list-secret-keys", "--with-colons"]).strip():
        run([*gpg, "--passphrase", "", "--quick-generate-key", KEY_NAME, "rsa3072", "sign", "never"])
    return run([*gpg, "--armor", "--export", KEY_NAME])


def _postinst(name, spec, seconds):
    lines = ["#!/bin/sh", "set -e", 'if [ "$1" = configure ]; then', "  :"]
    if spec.get("dkms"):
        lines += [
            '  if [ ! -d "/usr/src/linux-headers-$(uname -r)" ]; then',
            '    echo "Error! Your kernel headers for kernel $(uname -r) cannot be found." >&2',
            '    echo "Please install the linux-headers-$(uname -r) package" >&2',
            "    exit 1",
            "  fi",
        ]
    if spec.get("work"):
        _method, _key, what = spec["work"]
        lines.append('  echo "STAND-IN %s: %s (%s s, the lab profile\'s time)"' % (name, what, seconds))
        lines.append("  sleep %s" % seconds)
    if spec.get("dkms"):
        lines += [
            '  mkdir -p "/lib/modules/$(uname -r)/updates/dkms"',
            '  echo "stand-in kernel module (DKMS build)" > "/lib/modules/$(uname -r)/updates/dkms/nvidia.ko"',
        ]
    if any(target.endswith(".service") for target in spec.get("files", {})):
        lines.append("  systemctl daemon-reload >/dev/null 2>&1 || true")
    lines += ["fi", ""]
    return "\n".join(lines)


def _padding(path, size, seed):
    """Incompressible bytes (a registry, apt or dpkg cannot shrink them), the same for the same seed."""
    with open(path, "wb") as handle:
        block = 0
        while size > 0:
            data = random.Random("%s#%d" % (seed, block)).randbytes(min(size, 1024 * 1024))
            handle.write(data)
            size -= len(data)
            block += 1


def build_package(workdir, name, spec, size, kernel, seconds):
    """One .deb: its control file, its files, its padding, its postinst. Returns its control fields."""
    root = os.path.join(workdir, name)
    os.makedirs(os.path.join(root, "DEBIAN"))
    for target, content in spec.get("files", {}).items():
        path = os.path.join(root, target.format(kernel=kernel).lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if "\n" not in content:  # a stand-in program in bin/
            shutil.copyfile(os.path.join(BIN, content), path)
            os.chmod(path, 0o755)
        else:
            with open(path, "w") as handle:
                handle.write(content)
            os.chmod(path, 0o644)
    padding = os.path.join(root, "usr", "share", "ai-sandbox-lab-padding", name + ".bin")
    os.makedirs(os.path.dirname(padding), exist_ok=True)
    _padding(padding, size, name)
    control = {
        "Package": name,
        "Version": spec["version"],
        "Architecture": "amd64",
        "Maintainer": "One-Click AI Sandbox lab <lab@ai-sandbox.invalid>",
        "Installed-Size": str(max(size // 1024, 1)),
        "Section": "misc",
        "Priority": "optional",
        "Description": "STAND-IN for %s (the lab's stand-in GPU; no NVIDIA hardware or software)" % name,
    }
    if spec.get("depends"):
        control["Depends"] = ", ".join(spec["depends"])
    with open(os.path.join(root, "DEBIAN", "control"), "w") as handle:
        handle.write("".join("%s: %s\n" % item for item in control.items()))
    with open(os.path.join(root, "DEBIAN", "postinst"), "w") as handle:
        handle.write(_postinst(name, spec, seconds))
    os.chmod(os.path.join(root, "DEBIAN", "postinst"), 0o755)
    return control


def _index(directory, controls):
    """Packages, Packages.gz and Release of a flat repository."""
    entries = []
    for control in controls:
        deb = "%s_%s_amd64.deb" % (control["Package"], control["Version"])
        with open(os.path.join(directory, deb), "rb") as handle:
            data = handle.read()
        fields = dict(control)
        fields.update({"Filename": "./" + deb, "Size": str(len(data)), "MD5sum": hashlib.md5(data).hexdigest(),
                       "SHA256": hashlib.sha256(data).hexdigest()})  # fmt: skip
        entries.append("".join("%s: %s\n" % item for item in fields.items()))
    packages = "\n".join(entries).encode()
    with open(os.path.join(directory, "Packages"), "wb") as handle:
        handle.write(packages)
    with gzip.open(os.path.join(directory, "Packages.gz"), "wb") as handle:
        handle.write(packages)
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
    lines = ["Origin: %s" % ORIGIN, "Label: %s" % ORIGIN, "Date: %s" % date, "Architectures: amd64"]
    for label, algorithm in (("MD5Sum", hashlib.md5), ("SHA256", hashlib.sha256)):
        lines.append("%s:" % label)
        for name in ("Packages", "Packages.gz"):
            with open(os.path.join(directory, name), "rb") as handle:
                data = handle.read()
            lines.append(" %s %d %s" % (algorithm(data).hexdigest(), len(data), name))
    with open(os.path.join(directory, "Release"), "w") as handle:
        handle.write("\n".join(lines) + "\n")


def _sign(directory, gnupg_home):
    gpg = ["gpg", "--batch", "--yes", "--homedir", gnupg_home, "--local-user", KEY_NAME]
    run([*gpg, "--clearsign", "-o", os.path.join(directory, "InRelease"), os.path.join(directory, "Release")])
    run([*gpg, "--armor", "--detach-sign", "-o", os.path.join(directory, "Release.gpg"),
         os.path.join(directory, "Release")])  # fmt: skip


def build(out_dir, profile, kernel, gnupg_home, precompiled=True):
    """The three repositories under out_dir (replaced), signed; returns {name: relative dir}, with the
    public key written beside them where the roles and the lab fetch it."""
    key = ensure_key(gnupg_home)
    staging = tempfile.mkdtemp(prefix="ai-sandbox-apt-", dir=os.path.dirname(out_dir) or None)
    try:
        controls = {ARCHIVE: [], NVIDIA: [], TOOLKIT: []}
        with tempfile.TemporaryDirectory() as workdir:
            for method in METHODS:
                for package in profile.packages(method, kernel):
                    template = next(t for t in SPECS if t.format(kernel=kernel) == package["name"])
                    spec = SPECS[template]
                    if template.startswith("linux-modules-nvidia") and not precompiled:
                        continue
                    seconds = profile.value("driver", spec["work"][0], spec["work"][1]) if spec.get("work") else 0
                    control = build_package(workdir, package["name"], spec, package["size"], kernel, seconds)
                    target = os.path.join(staging, spec["repo"])
                    os.makedirs(target, exist_ok=True)
                    deb = os.path.join(target, "%s_%s_amd64.deb" % (package["name"], spec["version"]))
                    run(["dpkg-deb", "--root-owner-group", "-Znone", "--build", os.path.join(workdir, package["name"]),
                         deb])  # fmt: skip
                    controls[spec["repo"]].append(control)
        for repo, repo_controls in controls.items():
            _index(os.path.join(staging, repo), repo_controls)
            _sign(os.path.join(staging, repo), gnupg_home)
        for path in (os.path.join(staging, ARCHIVE, "lab-archive.asc"), os.path.join(staging, NVIDIA, "3bf863cc.pub"),
                     os.path.join(staging, "libnvidia-container", "gpgkey")):  # fmt: skip
            with open(path, "w") as handle:
                handle.write(key)
        with open(os.path.join(staging, "repos.json"), "w") as handle:
            json.dump({"archive": ARCHIVE, "nvidia": NVIDIA, "toolkit": TOOLKIT, "kernel": kernel,
                       "precompiled": precompiled}, handle)  # fmt: skip
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"archive": ARCHIVE, "nvidia": NVIDIA, "toolkit": TOOLKIT}
