"""nvidia_gpu_facts, run as a real module process against fake sysfs trees."""

from conftest import NVIDIA_AUDIO, QEMU_VGA, RTX4000_ADA, run_module


def gpu_facts(result):
    assert not result.get("failed"), result
    assert result["changed"] is False
    return result["ansible_facts"]["ai_sandbox_gpu"]


def test_no_gpu_on_the_bus(sysfs):
    facts = gpu_facts(run_module("nvidia_gpu_facts", {"sysfs_pci_path": sysfs({"0000:00:02.0": QEMU_VGA})}))
    assert facts["count"] == 0
    assert facts["devices"] == []
    assert facts["driver_loaded"] is False


def test_missing_sysfs_is_no_gpu(tmp_path):
    facts = gpu_facts(run_module("nvidia_gpu_facts", {"sysfs_pci_path": str(tmp_path / "absent")}))
    assert facts["count"] == 0


def test_gpu_without_driver(sysfs):
    tree = sysfs(
        {"0000:00:02.0": QEMU_VGA, "0000:01:00.0": RTX4000_ADA, "0000:01:00.1": NVIDIA_AUDIO},
        drivers={"0000:01:00.0": "nouveau"},
    )
    facts = gpu_facts(run_module("nvidia_gpu_facts", {"sysfs_pci_path": tree}))
    assert facts["count"] == 1
    assert facts["names"] == ["NVIDIA RTX 4000 Ada Generation"]
    assert facts["memory_mib"] == [20475]
    assert facts["devices"][0]["kernel_driver"] == "nouveau"
    assert facts["devices"][0]["pci_address"] == "0000:01:00.0"
    assert facts["driver_loaded"] is False
    assert facts["smi_error"] is None


def test_driver_loaded_reports_versions(sysfs, fake_nvidia_smi):
    tree = sysfs({"0000:01:00.0": RTX4000_ADA, "0000:02:00.0": RTX4000_ADA}, drivers={"0000:01:00.0": "nvidia"})
    bindir = fake_nvidia_smi(
        [
            (0, "NVIDIA RTX 4000 Ada Generation", "00000000:01:00.0", 20475, "580.95.05"),
            (1, "NVIDIA RTX 4000 Ada Generation", "00000000:02:00.0", 20475, "580.95.05"),
        ]
    )
    facts = gpu_facts(run_module("nvidia_gpu_facts", {"sysfs_pci_path": tree}, path_prefix=bindir))
    assert facts["count"] == 2
    assert facts["driver_loaded"] is True
    assert facts["driver_version"] == "580.95.05"
    assert facts["cuda_version"] == "13.0"
    assert [device["index"] for device in facts["devices"]] == [0, 1]


def test_smi_missing_a_gpu_is_not_loaded(sysfs, fake_nvidia_smi):
    tree = sysfs({"0000:01:00.0": RTX4000_ADA, "0000:02:00.0": RTX4000_ADA})
    bindir = fake_nvidia_smi([(0, "NVIDIA RTX 4000 Ada Generation", "00000000:01:00.0", 20475, "580.95.05")])
    facts = gpu_facts(run_module("nvidia_gpu_facts", {"sysfs_pci_path": tree}, path_prefix=bindir))
    assert facts["driver_loaded"] is False
    assert facts["smi_error"] == "nvidia-smi lists 1 of the 2 NVIDIA GPUs on the PCI bus"


def test_smi_failure_is_reported(sysfs, fake_nvidia_smi):
    tree = sysfs({"0000:01:00.0": RTX4000_ADA})
    message = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    bindir = fake_nvidia_smi([], fail=message)
    facts = gpu_facts(run_module("nvidia_gpu_facts", {"sysfs_pci_path": tree}, path_prefix=bindir))
    assert facts["driver_loaded"] is False
    assert facts["smi_error"] == message


def test_query_driver_off_does_not_run_smi(sysfs, fake_nvidia_smi):
    tree = sysfs({"0000:01:00.0": RTX4000_ADA})
    bindir = fake_nvidia_smi([], fail="must not be called")
    facts = gpu_facts(
        run_module("nvidia_gpu_facts", {"sysfs_pci_path": tree, "query_driver": False}, path_prefix=bindir)
    )
    assert facts["count"] == 1
    assert facts["smi_error"] is None


def test_unknown_option_is_refused(sysfs):
    result = run_module("nvidia_gpu_facts", {"sysfs_pci_path": sysfs({}), "bogus": 1})
    assert result["failed"]
    assert "bogus" in result["msg"]
