"""Driver package selection per OS and the sysfs / pci.ids / nvidia-smi parsers."""

import pytest

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import nvidia
from ansible_collections.oneclick.ai_sandbox.plugins.module_utils.nvidia import DriverPlanError, driver_plan

KERNEL = "5.15.0-122-generic"


def test_ubuntu_2204_from_nvidia_repo():
    plan = driver_plan("Ubuntu", "22", 580, kernel=KERNEL)
    assert plan["repo_url"] == "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64/"
    assert plan["key_url"] == "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64/3bf863cc.pub"
    assert plan["pinning_packages"] == ["nvidia-driver-pinning-580"]
    assert plan["packages"] == [
        "nvidia-dkms-580-open",
        "libnvidia-compute-580",
        "nvidia-utils-580",
        "nvidia-compute-utils-580",
        "dkms",
        "linux-headers-" + KERNEL,
    ]


def test_ubuntu_2404_arm_uses_sbsa_repo():
    plan = driver_plan("Ubuntu", "24", 580, architecture="aarch64")
    assert plan["repo_url"].endswith("/ubuntu2404/sbsa/")


def test_ubuntu_from_its_own_archive_needs_no_repo():
    plan = driver_plan("Ubuntu", "24.04", 580, source="distribution", kernel=KERNEL)
    assert plan["repo_url"] is None
    assert plan["pinning_packages"] == []
    assert "nvidia-dkms-580-open" in plan["packages"]


def test_debian_12_names_carry_no_branch_and_are_pinned():
    plan = driver_plan("Debian", "12", 580, kernel="6.1.0-26-amd64")
    assert plan["repo_url"].endswith("/debian12/x86_64/")
    assert plan["pinning_packages"] == ["nvidia-driver-pinning-580"]
    assert plan["packages"][:3] == ["nvidia-kernel-open-dkms", "nvidia-driver-cuda", "nvidia-persistenced"]
    assert "linux-headers-6.1.0-26-amd64" in plan["packages"]


def test_proprietary_modules_when_asked():
    assert driver_plan("Ubuntu", "22", 590, open_modules=False)["packages"][0] == "nvidia-dkms-590"
    assert driver_plan("Debian", "12", 580, open_modules=False)["packages"][0] == "nvidia-kernel-dkms"


def test_mirror_overrides_repo_and_key():
    plan = driver_plan("Ubuntu", "22", 580, repo_url="https://mirror.example/cuda/")
    assert plan["repo_url"] == "https://mirror.example/cuda/"
    assert plan["key_url"] == "https://mirror.example/cuda/3bf863cc.pub"
    plan = driver_plan("Ubuntu", "22", 580, repo_url="https://m/", key_url="https://k/key.asc")
    assert plan["key_url"] == "https://k/key.asc"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"distribution": "CentOS", "major_version": "9"}, "unsupported OS CentOS 9; supported: Debian 12, Ubuntu 22"),
        ({"branch": 570}, "nvidia_driver_branch: 570 is too old"),
        ({"branch": "latest"}, "nvidia_driver_branch: 'latest' is not a driver branch number"),
        ({"source": "ppa"}, "nvidia_driver_source: 'ppa' is not one of nvidia, distribution"),
        ({"distribution": "Debian", "major_version": "12", "source": "distribution"}, "only offered on Ubuntu"),
        ({"architecture": "ppc64le"}, "architecture 'ppc64le' is not supported"),
    ],
)
def test_refusals_name_field_value_and_choices(kwargs, message):
    args = {"distribution": "Ubuntu", "major_version": "22", "branch": 580}
    args.update(kwargs)
    with pytest.raises(DriverPlanError, match=message.replace("(", r"\(")):
        driver_plan(**args)


def test_parse_pci_ids_reads_only_nvidia_devices():
    text = "\n".join(
        [
            "# comment",
            "10de  NVIDIA Corporation",
            "\t27b2  AD104GL [RTX 4000 Ada Generation]",
            "\t\t10de 181b  RTX 4000 Ada Generation",
            "\t1e30  TU102GL [Quadro RTX 6000/8000]",
            "1234  Technical Corp.",
            "\t1111  QEMU Virtual Video Controller",
        ]
    )
    assert nvidia.parse_pci_ids(text) == {
        0x27B2: "AD104GL [RTX 4000 Ada Generation]",
        0x1E30: "TU102GL [Quadro RTX 6000/8000]",
    }


def test_unknown_device_is_named_from_pci_ids(sysfs):
    tree = sysfs({"0000:03:00.0": {"vendor": "0x10de", "device": "0x2330", "class": "0x030200"}})
    assert nvidia.scan_pci(tree, {0x2330: "GH100 [H100 SXM5 80GB]"})[0]["name"] == "GH100 [H100 SXM5 80GB]"
    assert nvidia.scan_pci(tree)[0]["name"] == "NVIDIA device 0x2330"


def test_parse_smi_query_rows():
    rows = nvidia.parse_smi_query("0, NVIDIA RTX 4000 Ada Generation, 00000000:01:00.0, 20475, 580.95.05\n\n")
    assert rows == [
        {
            "index": 0,
            "name": "NVIDIA RTX 4000 Ada Generation",
            "pci_bus_id": "00000000:01:00.0",
            "memory_mib": 20475,
            "driver_version": "580.95.05",
        }
    ]
    with pytest.raises(ValueError, match="unexpected nvidia-smi output line"):
        nvidia.parse_smi_query("No devices were found\n")


def test_cuda_version_from_smi_header():
    header = "| NVIDIA-SMI 580.95.05   Driver Version: 580.95.05   CUDA Version: 13.0  |"
    assert nvidia.parse_smi_cuda_version(header) == "13.0"
    assert nvidia.parse_smi_cuda_version("no header") is None


def test_bus_id_forms_match():
    assert nvidia.normalise_bus_id("00000000:01:00.0") == "0000:01:00.0"
    assert nvidia.normalise_bus_id("0000:C1:00.0") == "0000:c1:00.0"


def test_precompiled_modules_when_the_archive_has_them_for_this_kernel():
    assert nvidia.precompiled_modules_package(580, KERNEL) == "linux-modules-nvidia-580-server-open-" + KERNEL
    plan = driver_plan("Ubuntu", "22", 580, kernel=KERNEL, precompiled_available=True)
    assert plan["method"] == "precompiled" and plan["repo_url"] is None and plan["pinning_packages"] == []
    assert plan["packages"] == [
        "linux-modules-nvidia-580-server-open-" + KERNEL,
        "nvidia-headless-no-dkms-580-server-open",
        "nvidia-utils-580-server",
    ]
    assert plan["hold_packages"] == plan["packages"]
    assert "dkms" not in plan["packages"]


def test_dkms_when_the_archive_has_no_prebuilt_modules_or_dkms_is_asked():
    plan = driver_plan("Ubuntu", "22", 580, kernel=KERNEL, precompiled_available=False)
    assert plan["method"] == "dkms" and "dkms" in plan["packages"]
    assert plan["precompiled_package"] == "linux-modules-nvidia-580-server-open-" + KERNEL
    plan = driver_plan("Ubuntu", "22", 580, kernel=KERNEL, method="dkms", precompiled_available=True)
    assert plan["method"] == "dkms"
    assert plan["hold_packages"] == ["nvidia-dkms-580-open", "libnvidia-compute-580", "nvidia-utils-580",
                                     "nvidia-compute-utils-580"]  # fmt: skip
    debian = driver_plan("Debian", "12", 580, kernel="6.1.0-26-amd64")
    assert debian["method"] == "dkms"
    assert debian["hold_packages"] == ["nvidia-kernel-open-dkms", "nvidia-driver-cuda", "nvidia-persistenced"]


def test_precompiled_asked_but_not_offered_is_refused_by_name():
    with pytest.raises(DriverPlanError, match="nvidia_driver_method: 'precompiled' needs linux-modules-nvidia-580"):
        driver_plan("Ubuntu", "22", 580, kernel=KERNEL, method="precompiled")
    with pytest.raises(DriverPlanError, match="nvidia_driver_method: 'fast' is not one of auto, precompiled, dkms"):
        driver_plan("Ubuntu", "22", 580, kernel=KERNEL, method="fast")
