"""Settings are documented where people read them; the Docker create request carries every guard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import ContainerSpec
from sandbox_control_plane.container_scheduler.docker_runtime import DockerRuntime
from sandbox_control_plane.domain import Network, Resources

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_settings() -> dict[str, str]:
    rows = re.findall(r"^\| `(SBX_CP_[A-Z0-9_]+)` \| `([^`]*)` \|", README.read_text(), flags=re.MULTILINE)
    return dict(rows)


def test_every_setting_has_a_description_and_a_readme_row_with_its_default() -> None:
    documented = readme_settings()
    for name, field in Settings.model_fields.items():
        assert field.description, name
        env = f"SBX_CP_{name.upper()}"
        assert env in documented, f"{env} is missing from control_plane/README.md"
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            default = default.get_secret_value()  # the defaults hold no secret
        shown = "{}" if default == {} else str(default)
        assert documented[env] == shown, env
    assert len(documented) == len(Settings.model_fields)


def test_secrets_do_not_print() -> None:
    settings = Settings(api_tokens={"t": SecretStr("a-long-enough-token")}, internal_api_token=SecretStr("internal-x"))
    assert "a-long-enough-token" not in repr(settings)
    assert "internal-x" not in str(settings.model_dump())


def test_short_tokens_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(api_tokens={"t": SecretStr("short")})


async def test_the_create_request_carries_every_guard(tmp_path: Path) -> None:
    runtime = DockerRuntime(Settings(runtime_dir=tmp_path, docker_url="unix:///nonexistent.sock"))
    try:
        spec = ContainerSpec(
            session_id="ses_1",
            tenant_id="t",
            image="img:1",
            resources=Resources(1500, 512, 2048),
            network=Network.NONE,
            pids_limit=100,
            env={"A": "1"},
            secret_files={"token": b"x"},
        )
        config = runtime.container_config(spec)
        host = config["HostConfig"]
        assert config["User"] == "1000:1000"
        assert (host["CapDrop"], host["SecurityOpt"]) == (["ALL"], ["no-new-privileges"])
        assert (host["ReadonlyRootfs"], host["Privileged"], host["Init"]) == (True, False, True)
        assert (host["Memory"], host["MemorySwap"]) == (512 * 1024 * 1024, 512 * 1024 * 1024)
        assert (host["NanoCpus"], host["PidsLimit"]) == (1_500_000_000, 100)
        assert (host["NetworkMode"], config["NetworkDisabled"]) == ("none", True)
        assert "size=64m" in host["Tmpfs"]["/tmp"]
        mounts = {mount["Target"]: mount for mount in host["Mounts"]}
        assert mounts["/workspace"]["Type"] == "volume"
        assert mounts["/run/sbx/sock"]["ReadOnly"] is True
        assert mounts["/run/sbx/session"]["ReadOnly"] is True
        assert "A=1" in config["Env"]
        assert not any(item.split("=", 1)[1] == "x" for item in config["Env"])  # the token is a file only
        bridged = runtime.container_config(ContainerSpec(**{**spec.__dict__, "network": Network.BRIDGE}))
        assert (bridged["HostConfig"]["NetworkMode"], bridged["NetworkDisabled"]) == ("bridge", False)
    finally:
        await runtime.close()
