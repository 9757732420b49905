"""Bubblewrap as an inner layer: what the engine allows, and what allowing it costs.

The decision (control_plane/README.md, "Bubblewrap"): sessions do not use it. These tests keep the
facts behind that decision true on the engine CI runs: our profile refuses bwrap (so user code
cannot make namespaces either), and only the relaxed profile (``systempaths=unconfined`` and no
seccomp filter) lets it run.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.integration.conftest import EXECUTOR_IMAGE

pytestmark = pytest.mark.docker

SANDBOX = [
    "--user", "1000:1000", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
    "--read-only", "--network", "none", "--tmpfs", "/tmp:size=16m",
]  # fmt: skip
RELAXED = ["--security-opt", "systempaths=unconfined", "--security-opt", "seccomp=unconfined"]
BWRAP = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
         "--unshare-all", "--die-with-parent", "--new-session"]  # fmt: skip
# Ten runs of a trivial program, plain and inside bwrap, timed inside one container.
TIMING = (
    "import subprocess, time\n"
    "def clock(argv):\n"
    "    start = time.perf_counter()\n"
    "    for _ in range(10):\n"
    "        subprocess.run(argv, check=True)\n"
    "    return (time.perf_counter() - start) / 10 * 1000\n"
    f"bwrap = {BWRAP!r}\n"
    "plain = clock(['python3', '-c', 'pass'])\n"
    "wrapped = clock(bwrap + ['python3', '-c', 'pass'])\n"
    "print(f'{plain:.1f} {wrapped:.1f}')\n"
)


def docker_run(options: list[str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    name = f"sbx-cp-bwrap-{time.monotonic_ns()}"
    return subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--name",
            name,
            *SANDBOX,
            *options,
            "--entrypoint",
            argv[0],
            EXECUTOR_IMAGE,
            *argv[1:],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_our_profile_refuses_bubblewrap() -> None:
    result = docker_run([], [*BWRAP, "true"])
    assert result.returncode != 0
    assert "No permissions to create new namespace" in result.stderr


def test_seccomp_alone_is_not_enough() -> None:
    result = docker_run(["--security-opt", "seccomp=unconfined"], [*BWRAP, "true"])
    assert result.returncode != 0
    assert "Operation not permitted" in result.stderr


def test_the_relaxed_profile_runs_bubblewrap_and_what_it_costs() -> None:
    result = docker_run(RELAXED, ["python3", "-c", TIMING])
    assert result.returncode == 0, result.stderr
    plain_ms, wrapped_ms = (float(value) for value in result.stdout.split())
    print(f"\nbubblewrap: plain start {plain_ms:.1f} ms, inside bwrap {wrapped_ms:.1f} ms per run")
    assert wrapped_ms > plain_ms
