"""The executor's runner and client, on this machine (no container): the same code runs in sessions."""

from __future__ import annotations

import json
import os
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sandbox_executor.agent import InternalClient, Unavailable, run_code
from sandbox_executor.protocol import ExecutionStatus, Language, Reason


def test_python_runs_and_reports_its_output(tmp_path: Path) -> None:
    result = run_code(Language.PYTHON, "print(sum(range(10)))", 10, max_output=1000, workdir=str(tmp_path))
    assert (result.status, result.stdout, result.exit_code, result.reason) == (
        ExecutionStatus.COMPLETED,
        "45\n",
        0,
        None,
    )


def test_bash_exit_codes_and_stderr(tmp_path: Path) -> None:
    result = run_code(Language.BASH, "echo e >&2; exit 7", 10, max_output=1000, workdir=str(tmp_path))
    assert (result.status, result.exit_code, result.stderr) == (ExecutionStatus.COMPLETED, 7, "e\n")


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    code = (
        "import subprocess, time\n"
        "p = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(marker)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)"
    )
    started = time.monotonic()
    result = run_code(Language.PYTHON, code, 1, max_output=1000, workdir=str(tmp_path))
    assert (result.status, result.reason, result.exit_code) == (ExecutionStatus.TIMED_OUT, Reason.TIMEOUT, 137)
    assert time.monotonic() - started < 5
    child = int(marker.read_text())
    time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_output_past_the_limit_is_drained_and_flagged(tmp_path: Path) -> None:
    result = run_code(Language.PYTHON, "print('x' * 100000)", 10, max_output=1000, workdir=str(tmp_path))
    assert result.status is ExecutionStatus.COMPLETED
    assert (len(result.stdout), result.stdout_truncated) == (1000, True)


def test_a_tick_that_says_stop_cancels(tmp_path: Path) -> None:
    ticks: list[float] = []

    def tick() -> bool:
        ticks.append(time.monotonic())
        return len(ticks) >= 2

    result = run_code(
        Language.PYTHON,
        "import time; time.sleep(30)",
        30,
        max_output=100,
        workdir=str(tmp_path),
        on_tick=tick,
        tick_interval=0.2,
    )
    assert (result.status, result.reason) == (ExecutionStatus.CANCELLED, Reason.CANCELLED)
    assert len(ticks) == 2


def test_a_signal_that_is_not_ours_is_reported_as_killed(tmp_path: Path) -> None:
    result = run_code(
        Language.PYTHON,
        "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
        10,
        max_output=100,
        workdir=str(tmp_path),
    )
    assert (result.status, result.reason, result.exit_code) == (ExecutionStatus.FAILED, Reason.KILLED, 143)


def test_the_executors_variables_do_not_reach_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBX_SESSION_ID", "ses_x")
    monkeypatch.setenv("USER_VALUE", "visible")
    code = "import os; print(os.environ.get('SBX_SESSION_ID'), os.environ.get('USER_VALUE'))"
    result = run_code(Language.PYTHON, code, 10, max_output=100, workdir=str(tmp_path))
    assert result.stdout == "None visible\n"


class Recorder(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.calls.append(
            {
                "path": self.path,
                "auth": self.headers["Authorization"],
                "rid": self.headers.get("X-Request-ID"),
                "body": json.loads(body),
            }
        )
        payload = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        return None


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def socket_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "sock"
    directory.mkdir()
    # A socket whose server is gone (a crashed instance) next to a live one.
    dead = UnixServer(str(directory / "a-dead.sock"), Recorder)
    dead.server_close()
    live = UnixServer(str(directory / "b-live.sock"), Recorder)
    thread = threading.Thread(target=live.serve_forever, daemon=True)
    thread.start()
    Recorder.calls.clear()
    yield directory
    live.shutdown()
    live.server_close()


def test_the_client_fails_over_to_a_live_instance_and_carries_token_and_request_id(socket_dir: Path) -> None:
    client = InternalClient("ses_1", "tok", str(socket_dir))
    for _ in range(5):
        assert client.call("/executions/exe_1/heartbeat", {}, request_id="req-9") == {"ok": True}
    client.close()
    assert len(Recorder.calls) == 5
    call = Recorder.calls[0]
    assert call == {
        "path": "/v1/sessions/ses_1/executions/exe_1/heartbeat",
        "auth": "Bearer tok",
        "rid": "req-9",
        "body": {},
    }


def test_no_live_instance_is_unavailable_and_results_are_retried(tmp_path: Path) -> None:
    empty = tmp_path / "none"
    empty.mkdir()
    client = InternalClient("ses_1", "tok", str(empty))
    with pytest.raises(Unavailable):
        client.call("/ready", {})
    started = time.monotonic()
    assert client.call_until_taken("/ready", {}, give_up_after=0.3) is None
    assert time.monotonic() - started >= 0.3
    assert os.listdir(empty) == []
