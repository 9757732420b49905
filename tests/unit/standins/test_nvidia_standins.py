"""The stand-in GPU's software (tests/standins/nvidia/): nvidia-smi, modprobe, the container hook, the packages."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import COLLECTION_ROOT, RTX4000_ADA, STANDINS, run_module

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import nvidia

BIN = os.path.join(STANDINS, "nvidia", "bin")
ADDRESS = "0000:00:02.0"


def tool(name, *args, env=None, stdin=None):
    environment = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, os.path.join(BIN, name), *args], capture_output=True, text=True,
                          env=environment, input=stdin, check=False)  # fmt: skip


@pytest.fixture
def gpu(sysfs, tmp_path):
    """A machine's view: the PCI tree with an RTX 4000 Ada, a modules directory, the tools' environment."""
    devices = sysfs({ADDRESS: RTX4000_ADA})
    modules = tmp_path / "modules"
    modules.mkdir()
    return {"devices": devices, "modules": str(modules),
            "env": {"STANDIN_PCI_DEVICES": devices, "STANDIN_MODULES_DIR": str(modules)}}  # fmt: skip


def install_module(gpu):
    directory = os.path.join(gpu["modules"], os.uname().release, "kernel", "nvidia-580srv")
    os.makedirs(directory)
    with open(os.path.join(directory, "nvidia.ko"), "w") as handle:
        handle.write("stand-in\n")


def test_nvidia_smi_fails_like_the_real_one_without_a_driver(gpu):
    result = tool("nvidia_smi.py", env=gpu["env"])
    assert result.returncode == 9 and "couldn't communicate with the NVIDIA driver" in result.stdout


def test_modprobe_needs_the_module_then_binds_and_unbinds_the_gpu(gpu):
    result = tool("modprobe.py", "nvidia", env=gpu["env"])
    assert result.returncode == 1
    assert result.stderr == "modprobe: FATAL: Module nvidia not found in directory %s/%s\n" % (
        gpu["modules"],
        os.uname().release,
    )
    install_module(gpu)
    assert tool("modprobe.py", "nvidia", env=gpu["env"]).returncode == 0
    assert os.path.basename(os.readlink(os.path.join(gpu["devices"], ADDRESS, "driver"))) == "nvidia"
    again = tool("modprobe.py", "-n", "--first-time", "nvidia", env=gpu["env"])
    assert again.returncode == 1 and "Module already in kernel" in again.stderr
    assert tool("modprobe.py", "-r", "nvidia", env=gpu["env"]).returncode == 0
    assert not os.path.lexists(os.path.join(gpu["devices"], ADDRESS, "driver"))


def test_the_collection_reads_the_stand_in_gpu_as_a_loaded_rtx_4000_ada(gpu, tmp_path, monkeypatch):
    install_module(gpu)
    tool("modprobe.py", "nvidia", env=gpu["env"])
    query = tool("nvidia_smi.py", "--query-gpu=" + nvidia.SMI_QUERY, "--format=csv,noheader,nounits", env=gpu["env"])
    assert nvidia.parse_smi_query(query.stdout) == [
        {"index": 0, "name": "NVIDIA RTX 4000 Ada Generation", "pci_bus_id": "00000000:00:02.0",
         "memory_mib": 20475, "driver_version": "580.95.05"},
    ]  # fmt: skip
    assert nvidia.parse_smi_cuda_version(tool("nvidia_smi.py", env=gpu["env"]).stdout) == "13.0"
    # The module itself, with the stand-in as its nvidia-smi.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(os.path.join(BIN, "nvidia_smi.py"), bindir / "nvidia-smi")
    for name, value in gpu["env"].items():
        monkeypatch.setenv(name, value)
    facts = run_module("nvidia_gpu_facts", {"sysfs_pci_path": gpu["devices"]}, path_prefix=str(bindir))
    gpu_facts = facts["ansible_facts"]["ai_sandbox_gpu"]
    assert (gpu_facts["count"], gpu_facts["driver_loaded"], gpu_facts["driver_version"], gpu_facts["cuda_version"]) == (
        1, True, "580.95.05", "13.0")  # fmt: skip
    assert gpu_facts["devices"][0]["kernel_driver"] == "nvidia"


def test_the_container_hook_records_the_gpu_request(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"env": ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=all"]}}))
    log = tmp_path / "hook.log"
    state = json.dumps({"id": "abc123", "bundle": str(bundle), "status": "creating"})
    result = tool("container_runtime_hook.py", "prestart", env={"STANDIN_HOOK_LOG": str(log)}, stdin=state)
    assert result.returncode == 0, result.stderr
    assert log.read_text().endswith("prestart abc123 NVIDIA_VISIBLE_DEVICES=all\n")


class SmallProfile:
    """The real-scale profile's package lists with tiny times, as apt_repos.build reads a profile."""

    def __init__(self):
        sys.path.insert(0, os.path.join(COLLECTION_ROOT, "tests", "e2e"))
        import lab_profile

        self.real = lab_profile.load("real-scale")

    def packages(self, method, kernel):
        return [dict(p, size=1024) for p in self.real.packages(method, kernel)]

    def value(self, *keys):
        return {"build_seconds": 7, "install_seconds": 3}[keys[-1]]


@pytest.mark.skipif(not (shutil.which("dpkg-deb") and shutil.which("gpg")), reason="needs dpkg-deb and gpg")
def test_the_repositories_carry_the_packages_the_roles_install_signed(tmp_path):
    sys.path.insert(0, os.path.join(STANDINS, "nvidia"))
    import apt_repos

    out = tmp_path / "apt"
    apt_repos.build(str(out), SmallProfile(), "6.8.0-49-generic", str(tmp_path / "gnupg"))

    def names(repo):
        with open(out / repo / "Packages") as handle:
            return [line.split(": ", 1)[1].strip() for line in handle if line.startswith("Package: ")]

    assert set(names(apt_repos.ARCHIVE)) >= {"linux-modules-nvidia-580-server-open-6.8.0-49-generic",
                                             "nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server",
                                             "dkms", "linux-headers-6.8.0-49-generic"}  # fmt: skip
    assert set(names(apt_repos.NVIDIA)) >= {"nvidia-driver-pinning-580", "nvidia-kernel-open-dkms",
                                            "nvidia-driver-cuda", "nvidia-persistenced"}  # fmt: skip
    assert "nvidia-container-toolkit" in names(apt_repos.TOOLKIT)
    # apt checks the signature with the key the roles download (signed-by).
    verify = tmp_path / "verify"
    verify.mkdir(mode=0o700)
    gpg = ["gpg", "--batch", "--homedir", str(verify)]
    subprocess.run([*gpg, "--import", str(out / apt_repos.NVIDIA / "3bf863cc.pub")], check=True, capture_output=True)
    for repo in (apt_repos.ARCHIVE, apt_repos.NVIDIA, apt_repos.TOOLKIT):
        verified = subprocess.run([*gpg, "--verify", str(out / repo / "InRelease")], capture_output=True, check=False)
        assert verified.returncode == 0
    # The DKMS package builds only with the headers, and takes the profile's build time.
    deb = next(name for name in os.listdir(out / apt_repos.NVIDIA) if name.startswith("nvidia-kernel-open-dkms_"))
    postinst = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(out / apt_repos.NVIDIA / deb)], capture_output=True,
                              check=True).stdout  # fmt: skip
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(postinst)) as archive:
        script = archive.extractfile("./postinst").read().decode()
    assert "linux-headers-$(uname -r)" in script and "sleep 7" in script and "updates/dkms/nvidia.ko" in script
