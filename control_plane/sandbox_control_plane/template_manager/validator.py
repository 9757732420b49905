"""Rules a template must meet: resources within the specification's limits, no added privileges,
and an image that runs as a non-root user and carries our executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox_control_plane.container_scheduler.base import ImageInfo
from sandbox_control_plane.domain import LIMITS, Language, Network, Resources, format_quantity
from sandbox_control_plane.utils.errors import (
    ImageNotUsableError,
    InsecureTemplateError,
    InvalidInputError,
)
from sandbox_executor.protocol import EXECUTOR_LABEL


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    description: str
    image: str
    languages: list[Language]
    default_resources: Resources
    max_resources: Resources
    default_timeout_s: int
    network: Network
    # Options that would add privileges: present so that a request asking for them is refused by
    # name instead of silently ignored.
    privileged: bool = False
    cap_add: tuple[str, ...] = ()


def describe_resource(resources: Resources, name: str) -> float | str:
    """A resource as the API writes it: cores as a number, sizes as quantities."""
    if name == "cpu":
        return resources.cpu_millis / 1000
    return format_quantity(resources.memory_mib if name == "memory" else resources.disk_mib)


def _problem(field: str, value: Any, allowed: str, message: str) -> dict[str, Any]:
    return {"field": field, "value": value, "allowed": allowed, "message": message}


def resource_problems(prefix: str, resources: Resources) -> list[dict[str, Any]]:
    problems = []
    if resources.cpu_millis not in LIMITS.cpu:
        problems.append(
            _problem(
                f"{prefix}.cpu",
                resources.cpu_millis / 1000,
                LIMITS.cpu.describe(),
                f"cpu {resources.cpu_millis / 1000:g} is outside {LIMITS.cpu.describe()}",
            )
        )
    if resources.memory_mib not in LIMITS.memory:
        problems.append(
            _problem(
                f"{prefix}.memory",
                format_quantity(resources.memory_mib),
                LIMITS.memory.describe(),
                f"memory {format_quantity(resources.memory_mib)} is outside {LIMITS.memory.describe()}",
            )
        )
    if resources.disk_mib not in LIMITS.disk:
        problems.append(
            _problem(
                f"{prefix}.disk",
                format_quantity(resources.disk_mib),
                LIMITS.disk.describe(),
                f"disk {format_quantity(resources.disk_mib)} is outside {LIMITS.disk.describe()}",
            )
        )
    return problems


def timeout_problem(field: str, value: int) -> dict[str, Any] | None:
    if value in LIMITS.session_timeout:
        return None
    allowed = LIMITS.session_timeout.describe()
    return _problem(field, value, allowed, f"timeout {value} s is outside {allowed}")


def validate_spec(spec: TemplateSpec) -> None:
    """Raise ``InsecureTemplateError`` or ``InvalidInputError`` naming every field at fault."""
    insecure = []
    if spec.privileged:
        insecure.append(_problem("privileged", True, "false", "privileged containers are never started"))
    if spec.cap_add:
        insecure.append(
            _problem("cap_add", list(spec.cap_add), "[] (empty)", "sessions run with every capability dropped")
        )
    if insecure:
        raise InsecureTemplateError("The template asks for privileges sessions never get.", {"errors": insecure})

    problems = resource_problems("default_resources", spec.default_resources)
    problems += resource_problems("max_resources", spec.max_resources)
    for name in spec.default_resources.exceeds(spec.max_resources):
        problems.append(
            _problem(
                f"default_resources.{name}",
                describe_resource(spec.default_resources, name),
                f"at most max_resources.{name}",
                f"the default {name} is above the template's maximum",
            )
        )
    timeout = timeout_problem("default_timeout", spec.default_timeout_s)
    if timeout:
        problems.append(timeout)
    if problems:
        raise InvalidInputError("The template's resources are outside the allowed limits.", {"errors": problems})


def _is_root(user: str) -> bool:
    # Docker's USER: "", "root", "0", "0:0", "root:grp", "0:grp" all run as uid 0.
    name = user.split(":", 1)[0].strip()
    return name in ("", "root", "0")


def validate_image(image: str, info: ImageInfo) -> None:
    if not info.exists:
        raise ImageNotUsableError(
            f"The image '{image}' is not on the runtime's engine.",
            {"errors": [_problem("image", image, "an image present on the engine", "no such image")]},
        )
    if _is_root(info.user):
        raise InsecureTemplateError(
            f"The image '{image}' runs as root.",
            {
                "errors": [
                    _problem(
                        "image",
                        image,
                        "an image whose USER is a non-root user (e.g. 1000:1000)",
                        f"the image's user is '{info.user or 'root (unset)'}'",
                    )
                ]
            },
        )
    if info.labels.get(EXECUTOR_LABEL) != "1":
        raise ImageNotUsableError(
            f"The image '{image}' does not carry the sandbox executor.",
            {
                "errors": [
                    _problem(
                        "image",
                        image,
                        f"an image built from the sandbox executor image (label {EXECUTOR_LABEL}=1)",
                        "no executor label",
                    )
                ]
            },
        )
