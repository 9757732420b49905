"""Shared fixtures: a fake sysfs PCI tree and a stand-in nvidia-smi."""

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

COLLECTION_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# `make` exports this; a bare pytest run finds the collection through the same link.
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(COLLECTION_ROOT, ".build", "collections"))

# An RTX 4000 Ada as the kernel shows it (device 0x27b2, 3D controller class 0x030200), plus
# devices the scan must ignore: the emulated VGA of a VM and an NVIDIA audio function.
RTX4000_ADA = {"vendor": "0x10de", "device": "0x27b2", "class": "0x030200"}
QEMU_VGA = {"vendor": "0x1234", "device": "0x1111", "class": "0x030000"}
NVIDIA_AUDIO = {"vendor": "0x10de", "device": "0x22bc", "class": "0x040300"}


@pytest.fixture
def sysfs(tmp_path):
    """Build /sys/bus/pci/devices-like trees: sysfs({"0000:01:00.0": RTX4000_ADA, ...})."""

    def build(devices, drivers=None):
        root = tmp_path / "devices"
        (tmp_path / "drivers").mkdir(exist_ok=True)
        root.mkdir(exist_ok=True)
        for address, attributes in devices.items():
            entry = root / address
            entry.mkdir()
            for name, value in attributes.items():
                (entry / name).write_text(value + "\n")
            driver = (drivers or {}).get(address)
            if driver:
                target = tmp_path / "drivers" / driver
                target.mkdir(exist_ok=True)
                (entry / "driver").symlink_to(target)
        return str(root)

    return build


@pytest.fixture
def fake_nvidia_smi(tmp_path):
    """A stand-in for nvidia-smi on PATH that prints what the real one prints for these GPUs.

    Only the two invocations the module makes are answered, in the real tool's formats:
    ``--query-gpu=index,name,pci.bus_id,memory.total,driver_version --format=csv,noheader,nounits``
    and the plain table whose header carries ``CUDA Version``.
    """

    def install(rows, fail=None):
        bindir = tmp_path / "bin"
        bindir.mkdir(exist_ok=True)
        query = "".join("%s\n" % ", ".join(str(field) for field in row) for row in rows)
        script = textwrap.dedent(
            """\
            #!/bin/sh
            if [ -n "{fail}" ]; then echo "{fail}"; exit 9; fi
            case "$1" in
              --query-gpu=index,name,pci.bus_id,memory.total,driver_version)
                [ "$2" = "--format=csv,noheader,nounits" ] || {{ echo "bad format $2" >&2; exit 2; }}
                printf '%s' '{query}' ;;
              "")
                echo "+-----------------------------------------------------------------------------------------+"
                echo "| NVIDIA-SMI 580.95.05              Driver Version: 580.95.05      CUDA Version: 13.0     |"
                echo "+-----------------------------------------------------------------------------------------+" ;;
              *) echo "unexpected arguments: $*" >&2; exit 2 ;;
            esac
            """
        ).format(query=query, fail=fail or "")
        smi = bindir / "nvidia-smi"
        smi.write_text(script)
        smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
        return str(bindir)

    return install


def run_module(name, args, path_prefix=None):
    """Run a module of this collection as Ansible runs it: a process, arguments in a JSON file."""
    module = os.path.join(COLLECTION_ROOT, "plugins", "modules", name + ".py")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(filter(None, [path_prefix, "/usr/bin:/bin"]))
    args_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), "args-%d.json" % os.getpid())
    with open(args_file, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    try:
        result = subprocess.run(
            [sys.executable, module, args_file], capture_output=True, text=True, env=env, check=False
        )
        run_module.outputs.append(result.stdout + result.stderr)
    finally:
        os.unlink(args_file)
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise AssertionError("module printed no JSON: %s %s" % (result.stdout, result.stderr)) from None


STANDINS = os.path.join(COLLECTION_ROOT, "tests", "standins")


def load_json(*parts):
    with open(os.path.join(*parts)) as handle:
        return json.load(handle)


MISTRAL_CONFIG = load_json(STANDINS, "hf_hub", "repos", "mistralai", "Mistral-7B-Instruct-v0.3", "config.json")
# The sharded safetensors vLLM loads for Mistral-7B-Instruct-v0.3 (the Hub's listing).
MISTRAL_WEIGHTS_BYTES = 14496078512  # consolidated.safetensors (the Mistral format vLLM loads)
RTX4000_ADA_MIB = 20475


def vllm_flags():
    """The flags vLLM 0.33.0 accepts (tests/standins/vllm/vllm-0.33.0-serve-flags.txt, copied from
    shared/reference/)."""
    with open(os.path.join(STANDINS, "vllm", "vllm-0.33.0-serve-flags.txt")) as handle:
        return {line.strip() for line in handle if line.startswith("--")}


@pytest.fixture(scope="session")
def hf_hub(tmp_path_factory):
    """The stand-in Hugging Face Hub on a free loopback port: yields (endpoint, access log path)."""
    import socket

    log = tmp_path_factory.mktemp("hub") / "access.log"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hub_dir = os.path.join(STANDINS, "hf_hub")
    process = subprocess.Popen(
        [
            sys.executable,
            os.path.join(hub_dir, "hf_hub_standin.py"),
            "--root",
            os.path.join(hub_dir, "repos"),
            "--port",
            str(port),
            "--tokens",
            os.path.join(hub_dir, "tokens.json"),
            "--log",
            str(log),
        ],
        stdout=subprocess.PIPE,
    )
    process.stdout.readline()  # the "serving" line: it listens
    yield "http://127.0.0.1:%d" % port, str(log)
    process.terminate()
    process.wait(timeout=10)


LINODE_TOKEN = "emulator-token-1f2e3d"


@pytest.fixture
def linode_api():
    """The Linode API emulator (a stand-in held to the official spec) on a loopback port.

    Fails the test when any request or response broke the spec."""
    sys.path.insert(0, os.path.join(STANDINS, "linode_api"))
    from emulator import Emulator

    emulator = Emulator(token=LINODE_TOKEN, boot_seconds=0.5).start()
    yield emulator
    emulator.stop()
    assert emulator.violations == [], emulator.violations


def run_linode_module(name, emulator, args, token=LINODE_TOKEN):
    """Run a Linode module against the emulator; the token comes from the environment, as users pass it."""
    params = dict(args, api_url=emulator.url)
    os.environ["LINODE_TOKEN"] = token
    try:
        return run_module(name, params)
    finally:
        del os.environ["LINODE_TOKEN"]


run_module.outputs = []


def pytest_configure(config):
    # The compat stage skips these: they run the StackScript with bash and the host's python3, which do not
    # depend on the ansible-core under test (the newest core's run already has them).
    config.addinivalue_line("markers", "stackscript: runs stackscripts/ai-sandbox.sh (independent of ansible-core)")
