"""The executor: the one long-lived process of a session container (under the engine's init).

It reports ready, then asks the internal API for the next execution (a long poll), runs it as a
child process group under the execution's timeout, sends heartbeats while it runs (their answer
may say "stop": a cancel), kills it past its timeout, and reports the result, retrying until a
control-plane instance takes it. Nothing of a run outlives it: after each run every other process
the sandbox user has in the container is killed.

Standard library only (it runs on the image's Python 3.11+). It logs JSON lines to stderr,
never the token.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox_executor import protocol
from sandbox_executor.protocol import ExecutionStatus, Language, Reason

VERSION = "0.1.0"


def log(event: str, **fields: Any) -> None:
    record = {"event": event, "component": "executor", "time": round(time.time(), 3), **fields}
    sys.stderr.write(json.dumps(record, default=str) + "\n")
    sys.stderr.flush()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _unix_factory(path: str) -> Callable[[float], http.client.HTTPConnection]:
    def connect(timeout: float) -> http.client.HTTPConnection:
        return UnixHTTPConnection(path, timeout)

    return connect


class Unavailable(Exception):
    """No control-plane instance answered."""


class Rejected(Exception):
    """An instance answered with an error status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body.get('error_code', '')}")
        self.status = status
        self.body = body


class InternalClient:
    """JSON over HTTP to any live control-plane instance: the sockets in the folder, or a URL."""

    def __init__(self, session_id: str, token: str, socket_dir: str, callback_url: str = "") -> None:
        self.session_id = session_id
        self._token = token
        self._socket_dir = socket_dir
        self._callback_url = callback_url
        self._connection: http.client.HTTPConnection | None = None
        self._base = ""

    def _candidates(self) -> list[tuple[Callable[[float], http.client.HTTPConnection], str]]:
        sockets = sorted(Path(self._socket_dir).glob("*.sock")) if self._socket_dir else []
        random.shuffle(sockets)
        found: list[tuple[Callable[[float], http.client.HTTPConnection], str]] = [
            (_unix_factory(str(path)), "") for path in sockets
        ]
        if self._callback_url:
            from urllib.parse import urlsplit

            url = urlsplit(self._callback_url)
            secure = url.scheme == "https"
            host, port = url.hostname or "localhost", url.port or (443 if secure else 80)
            factory = http.client.HTTPSConnection if secure else http.client.HTTPConnection
            found.append((lambda timeout: factory(host, port, timeout=timeout), url.path.rstrip("/")))
        return found

    def _send(
        self, connection: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {}
        return response.status, parsed if isinstance(parsed, dict) else {}

    def call(
        self, path: str, payload: dict[str, Any], *, timeout: float = 10.0, request_id: str | None = None
    ) -> dict[str, Any]:
        """One request: on a dead connection, try the next instance once each, then give up."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
        }
        if request_id:
            headers[protocol.REQUEST_ID_HEADER] = request_id
        full_path = f"/v1/sessions/{self.session_id}{path}"
        attempts: list[tuple[Callable[[float], http.client.HTTPConnection] | None, str]] = []
        if self._connection is not None:
            attempts.append((None, self._base))
        attempts += self._candidates()
        for factory, base in attempts:
            try:
                if factory is not None:
                    self.close()
                    self._connection = factory(timeout)
                    self._base = base
                if self._connection is None:
                    continue
                self._connection.timeout = timeout
                if self._connection.sock is not None:
                    self._connection.sock.settimeout(timeout)
                status, parsed = self._send(self._connection, base + full_path, body, headers)
            except (OSError, http.client.HTTPException):
                self.close()
                continue
            if status >= 400:
                raise Rejected(status, parsed)
            return parsed
        raise Unavailable("no control-plane instance answered")

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
        self._connection = None

    def call_until_taken(
        self, path: str, payload: dict[str, Any], *, give_up_after: float, request_id: str | None = None
    ) -> dict[str, Any] | None:
        """Retry while no instance answers (a restart, a failover): results must not be lost."""
        deadline = time.monotonic() + give_up_after
        delay = 0.1
        while True:
            try:
                return self.call(path, payload, request_id=request_id)
            except Unavailable:
                if time.monotonic() > deadline:
                    return None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


def read_oom_kills() -> int | None:
    """The container's memory cgroup's OOM-kill count (cgroup v1 or v2), as the kernel keeps it."""
    for path, key in (
        ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
        ("/sys/fs/cgroup/memory.events", "oom_kill"),
    ):
        try:
            with open(path) as handle:
                for line in handle:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except OSError:
            continue
    return None


@dataclass
class Capture:
    """One output stream, kept up to a limit and drained past it (the child never blocks on it)."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def drain(self, stream: Any) -> None:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            room = self.limit - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            if len(chunk) > max(room, 0):
                self.truncated = True
        stream.close()

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass
class RunResult:
    status: ExecutionStatus
    reason: Reason | None
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_ms: int

    def payload(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "reason": None if self.reason is None else str(self.reason),
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "duration_ms": self.duration_ms,
        }


# Raise the child's OOM score so the kernel picks user code before the executor, and cap file
# sizes at the session's disk size; then become the interpreter.
_SHIM = 'echo 1000 >/proc/self/oom_score_adj 2>/dev/null; [ "$SBX_FSIZE_BLOCKS" -gt 0 ] 2>/dev/null && ulimit -f "$SBX_FSIZE_BLOCKS"; unset SBX_FSIZE_BLOCKS; exec "$@"'  # noqa: E501


def command_for(language: Language, source: str) -> list[str]:
    program, _ = protocol.INTERPRETERS[language]
    return ["/bin/sh", "-c", _SHIM, "sbx-run", program, source]


def child_environment(file_size_limit: int, session_env: dict[str, str] | None = None) -> dict[str, str]:
    """The session's variables without the executor's own (``SBX_*``).

    ``session_env`` comes with each claimed execution: a warm pool's container was started before
    its session (and its variables) existed.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(protocol.ENV_PREFIX)}
    for key, value in (session_env or {}).items():
        if not key.upper().startswith(protocol.ENV_PREFIX) and "\x00" not in value:
            env[key] = value
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = protocol.WORKSPACE
    env.setdefault("LANG", "C.UTF-8")
    env["PYTHONUNBUFFERED"] = "1"
    if file_size_limit > 0:
        env["SBX_FSIZE_BLOCKS"] = str(file_size_limit // 512)
    return env


def kill_group(process_group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal.SIGKILL)


def in_session_container() -> bool:
    """Only there may a run's leftovers be swept: kill(-1) anywhere else would hit unrelated processes."""
    return os.getuid() != 0 and os.getpid() != 1 and os.path.isdir(protocol.SESSION_DIR)


def kill_strays() -> None:
    """Every process the sandbox user may signal, except this one and the init: what a run left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(-1, signal.SIGKILL)


def run_code(
    language: Language,
    code: str,
    timeout: float,
    *,
    max_output: int,
    workdir: str,
    file_size_limit: int = 0,
    on_tick: Callable[[], bool] | None = None,
    tick_interval: float = 2.0,
    on_started: Callable[[int], None] | None = None,
    session_env: dict[str, str] | None = None,
) -> RunResult:
    """Run ``code`` and wait for it, its timeout, or ``on_tick`` returning True (stop)."""
    _, suffix = protocol.INTERPRETERS[language]
    scratch = tempfile.mkdtemp(prefix="sbx-run-")
    source = os.path.join(scratch, "main" + suffix)
    with open(source, "w", encoding="utf-8") as handle:
        handle.write(code)
    stdout, stderr = Capture(max_output), Capture(max_output)
    oom_before = read_oom_kills()
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            command_for(language, source),
            cwd=workdir,
            env=child_environment(file_size_limit, session_env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
            close_fds=True,
        )
    except OSError as error:
        return RunResult(ExecutionStatus.FAILED, Reason.EXECUTOR_ERROR, None, "", str(error), False, False, 0)
    readers = [
        threading.Thread(target=stdout.drain, args=(process.stdout,), daemon=True),
        threading.Thread(target=stderr.drain, args=(process.stderr,), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if on_started is not None:
        on_started(process.pid)
    deadline = started + timeout
    stopped_by: Reason | None = None
    next_tick = started + tick_interval
    while True:
        now = time.monotonic()
        wait = max(0.0, min(deadline, next_tick) - now)
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if now >= deadline:
            stopped_by = Reason.TIMEOUT
            kill_group(process.pid)
            process.wait()
            break
        if now >= next_tick:
            next_tick = now + tick_interval
            if on_tick is not None and on_tick():
                stopped_by = Reason.CANCELLED
                kill_group(process.pid)
                process.wait()
                break
    duration_ms = int((time.monotonic() - started) * 1000)
    kill_group(process.pid)  # what the run started in its own group
    for reader in readers:
        reader.join(timeout=2)
    with contextlib.suppress(OSError):
        shutil.rmtree(scratch)
    returncode = process.returncode
    exit_code = returncode if returncode >= 0 else 128 - returncode
    if stopped_by is Reason.TIMEOUT:
        status, reason = ExecutionStatus.TIMED_OUT, Reason.TIMEOUT
    elif stopped_by is Reason.CANCELLED:
        status, reason = ExecutionStatus.CANCELLED, Reason.CANCELLED
    elif returncode == -signal.SIGKILL and oom_before is not None and (read_oom_kills() or 0) > oom_before:
        status, reason = ExecutionStatus.FAILED, Reason.OOM_KILLED
    elif returncode < 0:
        status, reason = ExecutionStatus.FAILED, Reason.KILLED
    else:
        status, reason = ExecutionStatus.COMPLETED, None
    return RunResult(
        status,
        reason,
        exit_code,
        stdout.text(),
        stderr.text(),
        stdout.truncated,
        stderr.truncated,
        duration_ms,
    )


class Executor:
    def __init__(self, client: InternalClient, *, heartbeat_interval: float, max_output: int, file_size_limit: int):
        self.client = client
        self.heartbeat_interval = heartbeat_interval
        self.max_output = max_output
        self.file_size_limit = file_size_limit
        self.stopping = threading.Event()

    def report_ready(self) -> bool:
        answer = self.client.call_until_taken(
            "/ready", {"protocol": protocol.PROTOCOL_VERSION, "executor_version": VERSION}, give_up_after=120
        )
        return answer is not None

    def serve(self) -> int:
        try:
            if not self.report_ready():
                log("no_control_plane", step="ready")
                return 3
        except Rejected as error:
            log("ready_refused", status=error.status, error_code=error.body.get("error_code"))
            return 4
        log("ready", session_id=self.client.session_id)
        idle_since = time.monotonic()
        while not self.stopping.is_set():
            try:
                answer = self.client.call("/executions/claim", {"wait_s": 20}, timeout=35)
            except Unavailable:
                # Between instances (a restart): keep trying for a long while, then give up.
                if time.monotonic() - idle_since > 900:
                    log("no_control_plane", step="claim")
                    return 3
                time.sleep(0.5)
                continue
            except Rejected as error:
                log("claim_refused", status=error.status, error_code=error.body.get("error_code"))
                if error.status in (401, 403, 404):
                    return 4
                time.sleep(1)
                continue
            idle_since = time.monotonic()
            if answer.get("session_state") in ("terminating", "terminated", "failed"):
                log("session_ended", state=answer.get("session_state"))
                return 0
            execution = answer.get("execution")
            if execution:
                self.run(execution)
        return 0

    def run(self, execution: dict[str, Any]) -> None:
        execution_id = str(execution["id"])
        request_id = execution.get("request_id")
        base = f"/executions/{execution_id}"
        log("run_start", execution_id=execution_id, request_id=request_id, language=execution.get("language"))

        def tick() -> bool:
            try:
                # Short: the run's own timeout is checked between heartbeats.
                answer = self.client.call(base + "/heartbeat", {}, timeout=3, request_id=request_id)
            except (Unavailable, Rejected):
                return self.stopping.is_set()  # keep running: the control plane may come back
            return bool(answer.get("cancel")) or self.stopping.is_set()

        def started(pid: int) -> None:
            with contextlib.suppress(Unavailable, Rejected):
                self.client.call(base + "/status", {"status": "running", "pid": pid}, request_id=request_id)

        try:
            language = Language(execution["language"])
        except ValueError:
            result = RunResult(
                ExecutionStatus.FAILED, Reason.EXECUTOR_ERROR, None, "", "unknown language", False, False, 0
            )
        else:
            result = run_code(
                language,
                str(execution["code"]),
                float(execution["timeout"]),
                max_output=self.max_output,
                workdir=protocol.WORKSPACE if os.path.isdir(protocol.WORKSPACE) else os.getcwd(),
                file_size_limit=self.file_size_limit,
                on_tick=tick,
                tick_interval=self.heartbeat_interval,
                on_started=started,
                session_env={str(key): str(value) for key, value in (execution.get("env") or {}).items()},
            )
        if in_session_container():
            kill_strays()
        log(
            "run_end",
            execution_id=execution_id,
            request_id=request_id,
            status=str(result.status),
            reason=None if result.reason is None else str(result.reason),
            exit_code=result.exit_code,
            duration_ms=result.duration_ms,
        )
        try:
            taken = self.client.call_until_taken(
                base + "/result", result.payload(), give_up_after=900, request_id=request_id
            )
        except Rejected as error:
            log(
                "result_refused",
                execution_id=execution_id,
                status=error.status,
                error_code=error.body.get("error_code"),
            )
            return
        if taken is None:
            log("result_lost", execution_id=execution_id)

    def exited(self) -> None:
        with contextlib.suppress(Unavailable, Rejected):
            self.client.call("/exited", {"reason": str(Reason.CONTAINER_EXITED)}, timeout=3)


def main() -> int:
    session_id = os.environ.get(protocol.ENV_SESSION_ID, "")
    try:
        with open(protocol.TOKEN_FILE, encoding="ascii") as handle:
            token = handle.read().strip()
    except OSError as error:
        log("no_token", error=type(error).__name__)
        return 2
    if not session_id or not token:
        log("not_configured")
        return 2
    client = InternalClient(session_id, token, protocol.SOCKET_DIR, os.environ.get(protocol.ENV_CALLBACK_URL, ""))
    executor = Executor(
        client,
        heartbeat_interval=float(os.environ.get(protocol.ENV_HEARTBEAT_INTERVAL, "2")),
        max_output=int(os.environ.get(protocol.ENV_MAX_OUTPUT, str(1024 * 1024))),
        file_size_limit=int(os.environ.get(protocol.ENV_FILE_SIZE_LIMIT, "0")),
    )

    def on_term(_signum: int, _frame: object) -> None:
        executor.stopping.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    code = executor.serve()
    if executor.stopping.is_set():
        executor.exited()
    client.close()
    return code
