"""``make bench-control-plane``: one control-plane process on the real engine and MariaDB, measured
from a separate client process. Prints a table; asserts nothing (the goals are printed beside).

1. Cold session create: a create request until the session is ready (its executor reported),
   one after another, ``--creates`` times.
2. Execution submission at ``--clients`` concurrent clients spread over ``--sessions`` sessions,
   twice, ``--duration`` seconds each. Each client submits, waits for the result (a long-poll
   GET) and submits again. Paced: each client waits for its next submission time (random
   intervals, ``--rate`` submissions per second across all clients), the load a service is sized
   for. Back to back: no pause, the machine saturated; its completions per second are the
   throughput. Submission latency is request to ``202``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 - a throwaway token for a loopback run
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def database_url() -> str:
    if os.environ.get("SBX_CP_DATABASE_URL"):
        return os.environ["SBX_CP_DATABASE_URL"]
    for line in Path(os.environ["SBX_CP_TESTBED_ENV_FILE"]).read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "SBX_CP_DATABASE_URL":
            return value
    raise SystemExit("no database: run through `make bench-control-plane`")


def start_server(runtime_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "SBX_CP_DATABASE_URL": database_url(),
        "SBX_CP_API_TOKENS": json.dumps({"bench": TOKEN}),
        "SBX_CP_INTERNAL_API_TOKEN": "bench-internal-0123456789abcdef",
        "SBX_CP_RUNTIME_DIR": str(runtime_dir),
        "SBX_CP_PORT": str(port),
        "SBX_CP_LOG_LEVEL": "warning",
        "SBX_CP_DATABASE_POOL_SIZE": "30",
    }
    subprocess.run([sys.executable, "-m", "sandbox_control_plane", "migrate"], env=env, check=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox_control_plane", "serve"], env=env, stdout=out, stderr=out
        )
    return process, f"http://127.0.0.1:{port}"


async def wait_ready(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(300):
        try:
            async with http.get(url + "/ready") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the control plane did not get ready")


async def create_session(http: aiohttp.ClientSession, url: str, template_id: str) -> tuple[str, float]:
    started = time.perf_counter()
    async with http.post(f"{url}/api/v1/sessions", json={"template_id": template_id}) as response:
        body = await response.json()
        if response.status != 201:
            raise SystemExit(f"create failed: {body}")
    async with http.get(f"{url}/api/v1/sessions/{body['id']}", params={"wait_s": "30"}) as response:
        state = (await response.json())["state"]
    if state != "ready":
        raise SystemExit(f"session {body['id']} is {state}")
    return body["id"], time.perf_counter() - started


async def client_loop(
    http: aiohttp.ClientSession,
    url: str,
    session_id: str,
    until: float,
    submits: list[float],
    done: list[int],
    mean_interval: float,
) -> None:
    rng = random.Random(session_id + str(until) + str(len(submits)))
    next_at = time.perf_counter() + (rng.expovariate(1 / mean_interval) if mean_interval else 0)
    while time.perf_counter() < until:
        if mean_interval:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at = max(next_at, time.perf_counter()) + rng.expovariate(1 / mean_interval)
            if time.perf_counter() >= until:
                break
        started = time.perf_counter()
        async with http.post(
            f"{url}/api/v1/sessions/{session_id}/executions", json={"code": "print(1)", "timeout": 30}
        ) as response:
            body = await response.json()
            if response.status != 202:
                raise SystemExit(f"submit failed: {body}")
        submits.append(time.perf_counter() - started)
        async with http.get(
            f"{url}/api/v1/sessions/{session_id}/executions/{body['id']}", params={"wait_s": "60"}
        ) as response:
            result = await response.json()
        if result["status"] == "completed":
            done.append(1)


async def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=args.clients + 10)
    async with aiohttp.ClientSession(headers=HEADERS, connector=connector) as http:
        await wait_ready(http, url)
        template = {
            "name": f"bench-{int(time.time())}",
            "image": os.environ["SBX_CP_TEST_EXECUTOR_IMAGE"],
            "languages": ["python"],
            "default_resources": {"cpu": 0.5, "memory": "256Mi", "disk": "1Gi"},
            "max_resources": {"cpu": 1, "memory": "512Mi", "disk": "1Gi"},
        }
        async with http.post(f"{url}/api/v1/templates", json=template) as response:
            template_id = (await response.json())["id"]

        await create_session(http, url, template_id)  # warms the engine's caches; not counted
        creates: list[float] = []
        sessions: list[str] = []
        for _ in range(args.creates):
            session_id, seconds = await create_session(http, url, template_id)
            creates.append(seconds)
            sessions.append(session_id)
        while len(sessions) < args.sessions:
            sessions.append((await create_session(http, url, template_id))[0])

        phases: dict[str, Any] = {}
        for phase, mean_interval in (("paced", args.clients / args.rate), ("saturated", 0.0)):
            submits: list[float] = []
            done: list[int] = []
            started = time.perf_counter()
            until = started + args.duration
            await asyncio.gather(
                *(
                    client_loop(http, url, sessions[index % len(sessions)], until, submits, done, mean_interval)
                    for index in range(args.clients)
                )
            )
            phases[phase] = {"submits": submits, "completed": len(done), "elapsed": time.perf_counter() - started}
        for session_id in sessions:
            async with http.delete(f"{url}/api/v1/sessions/{session_id}"):
                pass
    return {"creates": creates, **phases}


def machine() -> str:
    cores = os.cpu_count()
    try:
        version = subprocess.run(
            ["docker", "info", "-f", "{{.ServerVersion}} cgroup v{{.CgroupVersion}}"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        version = "?"
    distro = "?"
    with open("/etc/os-release") as handle:
        for line in handle:
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip().strip('"')
    return f"{cores} cores, {distro}, dockerd {version}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--creates", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=10.0, help="paced phase: submissions per second, all clients")
    args = parser.parse_args()
    runtime_dir = Path(tempfile.mkdtemp(prefix="sbx-cp-bench-"))
    os.chmod(runtime_dir, 0o755)  # noqa: S103 - the sandbox user reaches the sockets below
    process, url = start_server(runtime_dir, runtime_dir / "server.log")
    try:
        result = asyncio.run(bench(args, url))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    paced = [value * 1000 for value in result["paced"]["submits"]]
    saturated = [value * 1000 for value in result["saturated"]["submits"]]
    creates = result["creates"]
    busy = result["saturated"]
    print()
    print(f"Control plane benchmark ({machine()})")
    print(f"{'measure':<62} {'value':>10}   goal")
    print(f"{'-' * 62} {'-' * 10}   {'-' * 14}")
    rows = [
        (
            f"submission p50, {args.clients} clients paced to {args.rate:g}/s ({args.sessions} sessions)",
            f"{percentile(paced, 0.5):.1f} ms",
            "",
        ),
        ("submission p95, paced", f"{percentile(paced, 0.95):.1f} ms", "<= 25 ms"),
        ("submission p99, paced", f"{percentile(paced, 0.99):.1f} ms", ""),
        (f"submission p50, {args.clients} clients back to back", f"{percentile(saturated, 0.5):.1f} ms", ""),
        ("submission p95, back to back", f"{percentile(saturated, 0.95):.1f} ms", "(saturated)"),
        ("submission p99, back to back", f"{percentile(saturated, 0.99):.1f} ms", ""),
        (f"cold session create p50 ({len(creates)} creates, to ready)", f"{percentile(creates, 0.5):.2f} s", ""),
        ("cold session create p95", f"{percentile(creates, 0.95):.2f} s", "<= 1.5 s"),
        (
            f"executions per second, back to back ({busy['completed']} in {busy['elapsed']:.0f} s)",
            f"{busy['completed'] / busy['elapsed']:.1f}",
            "",
        ),
    ]
    for name, value, goal in rows:
        print(f"{name:<62} {value:>10}   {goal}")
    print(
        f"(submissions measured: {len(paced)} paced, {len(saturated)} back to back; "
        f"mean create {statistics.mean(creates):.2f} s)"
    )


if __name__ == "__main__":
    main()
