"""Code runs in a real session container, within its limits."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ControlPlane, docker_inspect, new_session, run

pytestmark = pytest.mark.docker


def test_python_computes_45(client: httpx.Client, session: dict[str, Any]) -> None:
    result = run(client, session["id"], "print(sum(range(10)))")
    assert (result["status"], result["stdout"], result["exit_code"], result["reason"]) == ("completed", "45\n", 0, None)
    assert result["duration_ms"] >= 0


def test_a_file_written_in_one_execution_is_read_by_the_next(client: httpx.Client, session: dict[str, Any]) -> None:
    write = run(client, session["id"], "open('/workspace/note.txt', 'w').write('kept between executions')")
    assert write["status"] == "completed", write
    read = run(client, session["id"], "print(open('/workspace/note.txt').read())")
    assert read["stdout"] == "kept between executions\n"


def test_bash_and_a_failing_exit_code(client: httpx.Client, session: dict[str, Any]) -> None:
    result = run(client, session["id"], "echo out; echo err >&2; exit 3", language="bash")
    assert (result["status"], result["exit_code"], result["stdout"], result["stderr"]) == (
        "completed",
        3,
        "out\n",
        "err\n",
    )


def test_a_timeout_kills_the_code_and_what_it_started(client: httpx.Client, session: dict[str, Any]) -> None:
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '300'])\ntime.sleep(300)"
    started = time.monotonic()
    result = run(client, session["id"], code, timeout=2)
    assert (result["status"], result["reason"], result["exit_code"]) == ("timed_out", "timeout", 137)
    assert 2000 <= result["duration_ms"] < 6000
    assert time.monotonic() - started < 15
    leftovers = run(client, session["id"], "ps -eo comm= | grep -c '^sleep$' || true", language="bash")
    assert leftovers["stdout"].strip() == "0"


def test_a_memory_hog_is_killed_with_an_out_of_memory_reason(client: httpx.Client, session: dict[str, Any]) -> None:
    hog = "chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 1024 * 1024))"
    result = run(client, session["id"], hog, timeout=60)
    assert (result["status"], result["reason"], result["exit_code"]) == ("failed", "oom_killed", 137)
    after = run(client, session["id"], "print('still here')")
    assert after["stdout"] == "still here\n"


def test_a_fork_bomb_is_contained_by_the_pids_limit(client: httpx.Client, session: dict[str, Any]) -> None:
    bomb = (
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError as error:\n"
        "    print('fork refused after', children, 'children:', error.strerror)\n"
    )
    result = run(client, session["id"], bomb, timeout=20)
    assert result["status"] == "completed", result
    assert "fork refused after" in result["stdout"]
    assert "Resource temporarily unavailable" in result["stdout"]
    children = int(result["stdout"].split()[3])
    assert children < 128  # the session's pids limit (SBX_CP_SESSION_PIDS_LIMIT)
    after = run(client, session["id"], "import os; print(len([p for p in os.listdir('/proc') if p.isdigit()]))")
    assert int(after["stdout"]) < 10, after  # nothing of the bomb survived the run


def test_the_container_runs_unprivileged_read_only_and_limited(client: httpx.Client, session: dict[str, Any]) -> None:
    probe = (
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "lines = open('/proc/self/status').read().splitlines()\n"
        "status = dict(line.split(':\\t', 1) for line in lines if ':\\t' in line)\n"
        "print(status['CapEff'].strip(), status['NoNewPrivs'].strip())\n"
        "try:\n"
        "    open('/usr/evil', 'w')\n"
        "except OSError as error:\n"
        "    print(error.strerror)\n"
    )
    result = run(client, session["id"], probe)
    assert result["stdout"].splitlines() == ["1000 1000", "0000000000000000 1", "Read-only file system"]
    info = docker_inspect(f"sbx-cp-ses-{session['id']}")
    assert info is not None
    host = info["HostConfig"]
    assert info["Config"]["User"] == "1000:1000"
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["ReadonlyRootfs"] is True
    assert host["Privileged"] is False
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 128
    assert host["NetworkMode"] == "none"
    assert "internal-token" not in str(info["Config"]["Env"])


def _bridge_gateway() -> str:
    """This machine's address on the engine's default bridge (the engine may not name it)."""
    result = subprocess.run(
        ["docker", "network", "inspect", "bridge", "-f", "{{json .IPAM.Config}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(result.stdout)[0]
    gateway = config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    assert ipaddress.ip_address(gateway).is_private
    return gateway


def test_the_network_is_off_by_default_and_on_only_when_the_template_allows(
    client: httpx.Client, session: dict[str, Any], bridge_template: str
) -> None:
    # A listener on this machine's end of the engine's bridge: the only address the probe aims at.
    gateway = _bridge_gateway()
    listener = socket.socket()
    listener.bind((gateway, 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted: list[bool] = []

    def accept() -> None:
        listener.settimeout(30)
        try:
            connection, _ = listener.accept()
            accepted.append(True)
            connection.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    probe = (
        "import os, socket\n"
        "print(sorted(os.listdir('/sys/class/net')))\n"
        "try:\n"
        f"    socket.create_connection(({gateway!r}, {port}), timeout=5).close()\n"
        "    print('connected')\n"
        "except OSError as error:\n"
        "    print(error.strerror)\n"
    )
    isolated = run(client, session["id"], probe)
    assert isolated["stdout"].splitlines() == ["['lo']", "Network is unreachable"]
    assert not accepted

    bridged_session = new_session(client, bridge_template)
    try:
        bridged = run(client, bridged_session["id"], probe)
        assert bridged["stdout"].splitlines() == ["['eth0', 'lo']", "connected"], bridged
        thread.join(10)
        assert accepted == [True]
    finally:
        client.delete(f"/api/v1/sessions/{bridged_session['id']}")
        listener.close()


def test_output_is_kept_up_to_the_limit(client: httpx.Client, session: dict[str, Any]) -> None:
    result = run(client, session["id"], "import sys; sys.stdout.write('x' * (3 * 1024 * 1024))")
    assert result["stdout_truncated"] is True
    assert len(result["stdout"]) == 1024 * 1024


def test_cancel_stops_a_running_execution(client: httpx.Client, session: dict[str, Any]) -> None:
    submitted = client.post(
        f"/api/v1/sessions/{session['id']}/executions", json={"code": "import time; time.sleep(120)", "timeout": 300}
    ).json()
    url = f"/api/v1/sessions/{session['id']}/executions/{submitted['id']}"
    deadline = time.monotonic() + 30
    while client.get(url).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert client.post(url + "/cancel").status_code == 202
    done = client.get(url, params={"wait_s": 15}).json()
    assert (done["status"], done["reason"]) == ("cancelled", "cancelled")


def test_an_execution_whose_heartbeats_stop_is_marked_failed(
    client: httpx.Client, plane: ControlPlane, python_template: str
) -> None:
    frozen = new_session(client, python_template)
    name = f"sbx-cp-ses-{frozen['id']}"
    try:
        submitted = client.post(
            f"/api/v1/sessions/{frozen['id']}/executions", json={"code": "import time; time.sleep(60)", "timeout": 120}
        ).json()
        url = f"/api/v1/sessions/{frozen['id']}/executions/{submitted['id']}"
        deadline = time.monotonic() + 30
        while client.get(url).json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # Freeze the whole container: the executor can no longer report (heartbeat timeout: 6 s).
        subprocess.run(["docker", "pause", name], check=True, capture_output=True)
        done = client.get(url, params={"wait_s": 20}).json()
        assert (done["status"], done["reason"]) == ("failed", "heartbeat_lost")
    finally:
        subprocess.run(["docker", "unpause", name], check=False, capture_output=True)
        client.delete(f"/api/v1/sessions/{frozen['id']}")


def test_deleting_a_session_leaves_no_container_and_no_workspace(client: httpx.Client, python_template: str) -> None:
    doomed = new_session(client, python_template)
    container, volume = f"sbx-cp-ses-{doomed['id']}", f"sbx-cp-ws-{doomed['id']}"
    assert docker_inspect(container) is not None
    assert run(client, doomed["id"], "open('/workspace/f', 'w').write('x')")["status"] == "completed"
    deleted = client.delete(f"/api/v1/sessions/{doomed['id']}")
    assert deleted.json()["state"] == "terminated"
    assert docker_inspect(container) is None
    volumes = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"name={volume}"], capture_output=True, text=True, check=True
    )
    assert volumes.stdout.strip() == ""


def test_a_container_that_dies_fails_its_session(client: httpx.Client, python_template: str) -> None:
    doomed = new_session(client, python_template)
    submitted = client.post(
        f"/api/v1/sessions/{doomed['id']}/executions", json={"code": "import time; time.sleep(60)", "timeout": 120}
    ).json()
    url = f"/api/v1/sessions/{doomed['id']}/executions/{submitted['id']}"
    deadline = time.monotonic() + 30
    while client.get(url).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    subprocess.run(["docker", "kill", f"sbx-cp-ses-{doomed['id']}"], check=True, capture_output=True)
    done = client.get(url, params={"wait_s": 20}).json()
    assert (done["status"], done["reason"]) == ("failed", "container_exited")
    session = client.get(f"/api/v1/sessions/{doomed['id']}").json()
    assert (session["state"], session["state_reason"]) == ("failed", "container_exited")
    assert client.delete(f"/api/v1/sessions/{doomed['id']}").json()["state"] == "terminated"
