"""How the monitor names what happened to a container."""

from __future__ import annotations

from pathlib import Path

from sandbox_control_plane.container_scheduler.base import ContainerStatus
from sandbox_control_plane.container_scheduler.docker_runtime import oom_kills
from sandbox_control_plane.domain import Reason
from sandbox_control_plane.session_manager.monitor import reason_from


def test_a_running_container_gives_no_reason() -> None:
    assert reason_from(ContainerStatus(exists=True, running=True)) is None


def test_an_oom_killed_container_says_so_and_others_exited() -> None:
    assert reason_from(ContainerStatus(exists=True, running=False, exit_code=137, oom_killed=True)) is Reason.OOM_KILLED
    assert reason_from(ContainerStatus(exists=True, running=False, exit_code=137)) is Reason.CONTAINER_EXITED
    assert reason_from(ContainerStatus(exists=False, running=False)) is Reason.CONTAINER_EXITED


def test_the_kernels_oom_count_is_read_from_v1_and_v2_files(tmp_path: Path) -> None:
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n")
    assert oom_kills(v1) == 2
    assert oom_kills(v2) == 1
    assert oom_kills(tmp_path / "gone") is None


def test_runtime_reasons_map_onto_session_reasons() -> None:
    from sandbox_control_plane.container_scheduler.base import ContainerReason

    def of(reason: ContainerReason, exists: bool = True) -> Reason | None:
        return reason_from(ContainerStatus(exists=exists, running=False, reason=str(reason)))

    assert of(ContainerReason.STARTING) is None  # a Pod being scheduled is not dead
    assert of(ContainerReason.STARTING, exists=False) is Reason.CONTAINER_EXITED
    assert of(ContainerReason.IMAGE_PULL_FAILED) is Reason.IMAGE_PULL_FAILED
    assert of(ContainerReason.CREATE_FAILED) is Reason.CONTAINER_CREATE_FAILED
    assert of(ContainerReason.OOM_KILLED) is Reason.OOM_KILLED
    assert of(ContainerReason.EVICTED) is Reason.EVICTED
    assert of(ContainerReason.EXITED) is Reason.CONTAINER_EXITED
    assert of(ContainerReason.UNKNOWN) is Reason.CONTAINER_EXITED
