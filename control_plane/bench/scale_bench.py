"""``make bench-control-plane``, part 2: 1000 concurrent sessions on one control-plane instance.

One ``serve`` process with ``SBX_CP_RUNTIME=kubernetes`` and the real MariaDB. Its cluster is the
Kubernetes API emulator (``tests/k8s_emulator.py``: kmock, in this process) and each session's
executor is simulated here, speaking the real internal API over HTTP (ready, claim long-polls,
status, result). So the control plane does all of its own work for every session: the rows, the
Kubernetes API calls (Secret, NetworkPolicy, Pod), one claim long-poll per executor, its monitor
sweeping all of them, usage sampling. What is NOT measured, and must not be read into the figures:
a real cluster's scheduling and image pulls (the bench writes each Pod's status ``Running`` the
moment it exists, as a kubelet would much later), and code that runs (an execution "runs" 50 ms).

1. Ramp: ``--sessions`` creates, ``--create-concurrency`` at a time, each timed from the create
   request to the session's ``ready`` (the emulator's cold create).
2. Load, with every session live: ``--clients`` clients paced to ``--rate`` operations per second
   in all for ``--duration`` seconds. Each operation submits an execution (``POST``), waits for it
   (a long-poll GET, not timed), then reads it and its session back (two timed GETs). API latency
   is request to answer, measured by the client; database query latency is the server's own
   ``sbx_db_query_duration_seconds`` histogram over the load phase (its buckets bound the value).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.control_plane_bench import HEADERS, TOKEN, database_url, machine, percentile
from sandbox_control_plane.container_scheduler.kubernetes_runtime import object_name
from sandbox_control_plane.utils.tokens import session_token
from sandbox_executor.protocol import PROTOCOL_VERSION
from tests.k8s_emulator import Emulator, kubernetes_emulator, running_status

INTERNAL_TOKEN = "bench-internal-0123456789abcdef"  # noqa: S105 - a throwaway token for a loopback run
NAMESPACE = "sandbox"
IMAGE = "sbx-bench/python:1"
QUERY_METRIC = "sbx_db_query_duration_seconds"
SWEEP_METRIC = "sbx_monitor_sweep_duration_seconds"
LIVE = ("ready", "running")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kubeconfig(url: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": url}}],
            "users": [{"name": "bench", "user": {}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "bench"}}],
            "current-context": "emulator",
        }
    )


async def start_server(work: Path, emulator_url: str) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    config = work / "kubeconfig"
    config.write_text(kubeconfig(emulator_url))
    config.chmod(0o600)
    env = {
        **os.environ,
        "SBX_CP_DATABASE_URL": database_url(),
        "SBX_CP_API_TOKENS": json.dumps({"bench": TOKEN}),
        "SBX_CP_INTERNAL_API_TOKEN": INTERNAL_TOKEN,
        "SBX_CP_RUNTIME": "kubernetes",
        "SBX_CP_KUBE_CONFIG_FILE": str(config),
        "SBX_CP_KUBE_NAMESPACE": NAMESPACE,
        "SBX_CP_KUBE_TRUSTED_IMAGE_PREFIXES": json.dumps(["sbx-bench/"]),
        "SBX_CP_EXECUTOR_CALLBACK_URL": f"http://127.0.0.1:{port}/internal",
        "SBX_CP_RUNTIME_DIR": str(work),
        "SBX_CP_PORT": str(port),
        "SBX_CP_LOG_LEVEL": "warning",
        "SBX_CP_DATABASE_POOL_SIZE": "30",
    }
    migrate = await asyncio.create_subprocess_exec(sys.executable, "-m", "sandbox_control_plane", "migrate", env=env)
    if await migrate.wait() != 0:
        raise SystemExit("migrate failed")
    log = (work / "server.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sandbox_control_plane", "serve", env=env, stdout=log, stderr=log
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


class Executors:
    """The simulated executors: one task per session, as the real agent calls the internal API."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self._http = http
        self._url = url
        self._tasks: list[asyncio.Task[None]] = []
        self.stopping = False
        self.ran = 0
        self.errors: list[str] = []

    def start(self, session_id: str) -> None:
        self._tasks.append(asyncio.create_task(self._run(session_id)))

    async def _post(self, base: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        async with self._http.post(base + path, json=body, headers=headers) as response:
            answer: dict[str, Any] = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {answer.get('error_code')}")
            return answer

    async def _run(self, session_id: str) -> None:
        base = f"{self._url}/internal/v1/sessions/{session_id}"
        headers = {"Authorization": f"Bearer {session_token(INTERNAL_TOKEN, session_id)}"}
        try:
            await self._post(base, "/ready", headers, {"protocol": PROTOCOL_VERSION, "executor_version": "bench"})
            while not self.stopping:
                claim = await self._post(base, "/executions/claim", headers, {"wait_s": 20})
                if claim["session_state"] not in ("ready", "running"):
                    return
                execution = claim["execution"]
                if execution is None:
                    continue
                path = f"/executions/{execution['id']}"
                await self._post(base, path + "/status", headers, {"status": "running"})
                await asyncio.sleep(0.05)
                result = {"status": "completed", "exit_code": 0, "stdout": "1\n", "duration_ms": 50}
                await self._post(base, path + "/result", headers, result)
                self.ran += 1
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as error:
            if not self.stopping:
                self.errors.append(f"{session_id}: {error}")

    async def stop(self) -> None:
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def create_one(
    http: aiohttp.ClientSession, url: str, emulator: Emulator, executors: Executors, template_id: str
) -> tuple[str, float]:
    started = time.perf_counter()
    async with http.post(f"{url}/api/v1/sessions", json={"template_id": template_id}) as response:
        body = await response.json()
        if response.status != 201:
            raise SystemExit(f"create failed: {body}")
    session_id = body["id"]
    # What a kubelet does once the Pod's container runs; then the executor in it reports ready.
    await emulator.set_pod_status(NAMESPACE, object_name(session_id), running_status(IMAGE))
    executors.start(session_id)
    async with http.get(f"{url}/api/v1/sessions/{session_id}", params={"wait_s": "30"}) as response:
        state = (await response.json())["state"]
    if state != "ready":
        raise SystemExit(f"session {session_id} is {state}")
    return session_id, time.perf_counter() - started


def histogram(text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts of one (unlabelled) histogram in a Prometheus text exposition."""
    buckets: dict[float, float] = {}
    pattern = re.compile(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$')
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            buckets[float(match.group(1))] = float(match.group(2))
    return buckets


def histogram_quantile(before: dict[float, float], after: dict[float, float], fraction: float) -> tuple[float, int]:
    """The quantile of what was observed between two scrapes (linear within a bucket, as Prometheus
    does), and how many observations that was."""
    bounds = sorted(after)
    counts = [after[bound] - before.get(bound, 0.0) for bound in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return 0.0, 0
    rank = fraction * total
    lower, previous = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower, int(total)
            return lower + (bound - lower) * (rank - previous) / max(count - previous, 1e-9), int(total)
        lower, previous = bound, count
    return lower, int(total)


async def live_sessions(http: aiohttp.ClientSession, url: str) -> list[str]:
    """The tenant's sessions that are ready or running, page by page (the API, not the monitor's
    gauge: that one is only as fresh as the last sweep)."""
    found: list[str] = []
    params: list[tuple[str, str]] = [*(("state", state) for state in LIVE), ("limit", "100")]
    cursor = None
    while True:
        page_params = params if cursor is None else [*params, ("cursor", cursor)]
        async with http.get(f"{url}/api/v1/sessions", params=page_params) as response:
            body = await response.json()
        found += [item["id"] for item in body["items"]]
        cursor = body.get("next_cursor")
        if not cursor:
            return found


async def delete_all(http: aiohttp.ClientSession, url: str, sessions: list[str], concurrency: int) -> list[float]:
    """End the sessions (a bench leaves nothing running), each timed."""
    gate = asyncio.Semaphore(concurrency)
    times: list[float] = []

    async def delete(session_id: str) -> None:
        async with gate:
            for attempt in range(3):
                started = time.perf_counter()
                try:
                    async with http.delete(f"{url}/api/v1/sessions/{session_id}") as response:
                        await response.read()
                        if response.status not in (200, 409):  # 409: it had ended already
                            raise SystemExit(f"delete {session_id} failed: {response.status}")
                except aiohttp.ClientConnectionError:
                    # A pooled connection the server closed as idle (keep-alive 5 s) during the load.
                    if attempt == 2:
                        raise
                    continue
                times.append(time.perf_counter() - started)
                return

    await asyncio.gather(*(delete(session_id) for session_id in sessions))
    return times


async def scrape(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url + "/metrics") as response:
        return await response.text()


async def client_loop(
    http: aiohttp.ClientSession,
    url: str,
    sessions: list[str],
    until: float,
    mean_interval: float,
    latencies: dict[str, list[float]],
    seed: int,
) -> None:
    rng = random.Random(seed)
    next_at = time.perf_counter() + rng.expovariate(1 / mean_interval)
    while True:
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        if time.perf_counter() >= until:
            return
        next_at = max(next_at, time.perf_counter()) + rng.expovariate(1 / mean_interval)
        session_id = rng.choice(sessions)
        started = time.perf_counter()
        async with http.post(
            f"{url}/api/v1/sessions/{session_id}/executions", json={"code": "print(1)", "timeout": 30}
        ) as response:
            body = await response.json()
        if response.status != 202:
            # A session already running one queues it; anything else is a failure worth showing.
            raise SystemExit(f"submit failed: {response.status} {body}")
        latencies["submit"].append(time.perf_counter() - started)
        execution_url = f"{url}/api/v1/sessions/{session_id}/executions/{body['id']}"
        async with http.get(execution_url, params={"wait_s": "30"}) as response:
            await response.read()
        for kind, target in (("get execution", execution_url), ("get session", f"{url}/api/v1/sessions/{session_id}")):
            started = time.perf_counter()
            async with http.get(target) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"{kind} failed: {response.status}")
            latencies[kind].append(time.perf_counter() - started)


async def load_phase(args: argparse.Namespace, sessions: list[str]) -> dict[str, list[float]]:
    """The load process: the paced clients, timing each call; prints the latencies."""
    url = args.load[0]
    latencies: dict[str, list[float]] = {"submit": [], "get execution": [], "get session": []}
    connector = aiohttp.TCPConnector(limit=args.clients + 10)
    async with aiohttp.ClientSession(headers=HEADERS, connector=connector) as http:
        until = time.perf_counter() + args.duration
        await asyncio.gather(
            *(
                client_loop(http, url, sessions, until, args.clients / args.rate, latencies, seed)
                for seed in range(args.clients)
            )
        )
    return latencies


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sbx-cp-scale-"))
    os.chmod(work, 0o755)  # noqa: S103 - the layout the server expects of its runtime folder
    async with kubernetes_emulator() as emulator:
        process, url = await start_server(work, emulator.url)
        connector = aiohttp.TCPConnector(limit=args.sessions + args.clients + 50)
        timeout = aiohttp.ClientTimeout(total=90)
        try:
            async with aiohttp.ClientSession(headers=HEADERS, connector=connector, timeout=timeout) as http:
                await wait_ready(http, url)
                # An earlier run that was stopped short left its sessions live in this database.
                leftovers = await live_sessions(http, url)
                if leftovers:
                    print(f"  ending {len(leftovers)} sessions an earlier run left", file=sys.stderr, flush=True)
                    await delete_all(http, url, leftovers, args.create_concurrency)
                template = {
                    "name": f"scale-{int(time.time())}",
                    "image": IMAGE,
                    "languages": ["python"],
                    "default_resources": {"cpu": 0.5, "memory": "256Mi", "disk": "1Gi"},
                    "max_resources": {"cpu": 1, "memory": "512Mi", "disk": "1Gi"},
                }
                async with http.post(f"{url}/api/v1/templates", json=template) as response:
                    body = await response.json()
                    if response.status != 201:
                        raise SystemExit(f"template refused: {body}")
                    template_id = body["id"]
                executors = Executors(http, url)
                creates: list[float] = []
                sessions: list[str] = []
                gate = asyncio.Semaphore(args.create_concurrency)
                ramp_started = time.perf_counter()

                async def create() -> None:
                    async with gate:
                        session_id, seconds = await create_one(http, url, emulator, executors, template_id)
                    sessions.append(session_id)
                    creates.append(seconds)
                    if len(sessions) % 100 == 0:
                        print(f"  {len(sessions)} sessions ready", file=sys.stderr, flush=True)

                await asyncio.gather(*(create() for _ in range(args.sessions)))
                ramp = time.perf_counter() - ramp_started
                async with http.get(f"{url}/api/v1/sessions", params={"state": "ready", "limit": "1"}) as response:
                    await response.read()

                # The load runs in its own process: the emulator and 1000 executors share this
                # one's event loop, and their work must not count as the API's latency.
                sessions_file = work / "sessions.json"
                sessions_file.write_text(json.dumps(sessions))
                exposition = await scrape(http, url)
                before = histogram(exposition, QUERY_METRIC)
                sweeps_before = histogram(exposition, SWEEP_METRIC)
                started = time.perf_counter()
                load = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.scale_bench",
                    "--load",
                    url,
                    str(sessions_file),
                    f"--clients={args.clients}",
                    f"--rate={args.rate}",
                    f"--duration={args.duration}",
                    stdout=asyncio.subprocess.PIPE,
                )
                output, _ = await load.communicate()
                if load.returncode != 0:
                    raise SystemExit("the load process failed")
                latencies = json.loads(output)
                elapsed = time.perf_counter() - started
                exposition = await scrape(http, url)
                after = histogram(exposition, QUERY_METRIC)
                sweeps_after = histogram(exposition, SWEEP_METRIC)
                live = len(set(await live_sessions(http, url)) & set(sessions))
                ran = executors.ran
                errors = list(executors.errors)
                # Fresh connections: the pooled ones sat idle through the load and the server closed them.
                async with aiohttp.ClientSession(headers=HEADERS, timeout=timeout) as fresh:
                    deletes = await delete_all(fresh, url, sessions, args.create_concurrency)
                await executors.stop()
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
    return {
        "creates": creates,
        "ramp": ramp,
        "latencies": latencies,
        "elapsed": elapsed,
        "queries": (before, after),
        "sweeps": (sweeps_before, sweeps_after),
        "deletes": deletes,
        "live": live,
        "ran": ran,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--create-concurrency", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50.0, help="operations per second, all clients")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--load", nargs=2, metavar=("URL", "SESSIONS_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        sessions = json.loads(Path(args.load[1]).read_text())
        print(json.dumps(asyncio.run(load_phase(args, sessions))))
        return
    result = asyncio.run(bench(args))
    ms = {kind: [value * 1000 for value in values] for kind, values in result["latencies"].items()}
    every = [value for values in ms.values() for value in values]
    before, after = result["queries"]
    query_p50, _ = histogram_quantile(before, after, 0.5)
    query_p95, queries = histogram_quantile(before, after, 0.95)
    creates = result["creates"]
    sweeps_before, sweeps_after = result["sweeps"]
    sweep_p50, _ = histogram_quantile(sweeps_before, sweeps_after, 0.5)
    sweep_p95, sweeps = histogram_quantile(sweeps_before, sweeps_after, 0.95)
    print()
    print(f"Control plane at scale ({machine()}; Kubernetes runtime on the kmock API emulator)")
    print(f"{'measure':<66} {'value':>10}   goal")
    print(f"{'-' * 66} {'-' * 10}   {'-' * 10}")
    rows = [
        ("sessions live at the end of the load (executors long-polling)", f"{result['live']}", f">= {args.sessions}"),
        (
            f"cold create p50, emulator, {args.create_concurrency} at a time (to ready)",
            f"{percentile(creates, 0.5) * 1000:.0f} ms",
            "",
        ),
        ("cold create p95, emulator", f"{percentile(creates, 0.95) * 1000:.0f} ms", ""),
        (f"ramp to {len(creates)} ready sessions", f"{result['ramp']:.1f} s", ""),
        (
            f"API p50, {args.clients} clients paced to {args.rate:g} ops/s, all three calls",
            f"{percentile(every, 0.5):.1f} ms",
            "",
        ),
        ("API p95, all three calls", f"{percentile(every, 0.95):.1f} ms", "<= 100 ms"),
        ("API p99, all three calls", f"{percentile(every, 0.99):.1f} ms", ""),
        *(
            (f"  {kind} p95 ({len(values)} calls)", f"{percentile(values, 0.95):.1f} ms", "")
            for kind, values in ms.items()
        ),
        (f"database query p50 ({queries} statements during the load)", f"{query_p50 * 1000:.2f} ms", ""),
        ("database query p95", f"{query_p95 * 1000:.2f} ms", "<= 50 ms"),
        (f"monitor sweep p50 ({sweeps} sweeps during the load)", f"{sweep_p50 * 1000:.0f} ms", ""),
        ("monitor sweep p95", f"{sweep_p95 * 1000:.0f} ms", ""),
        (f"executions completed in {result['elapsed']:.0f} s", f"{result['ran']}", ""),
        (
            f"delete p95, {args.create_concurrency} at a time (Pod, Secret, NetworkPolicy)",
            f"{percentile(result['deletes'], 0.95) * 1000:.0f} ms",
            "",
        ),
    ]
    for name, value, goal in rows:
        print(f"{name:<66} {value:>10}   {goal}")
    if result["errors"]:
        print(f"executor errors ({len(result['errors'])}): {result['errors'][:3]}")


if __name__ == "__main__":
    main()
