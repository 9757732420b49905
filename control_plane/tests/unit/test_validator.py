"""Template rules: limits, privileges, images."""

from __future__ import annotations

import pytest

from sandbox_control_plane.container_scheduler.base import ImageInfo
from sandbox_control_plane.domain import Language, Network, Resources, format_quantity, parse_quantity
from sandbox_control_plane.template_manager.validator import TemplateSpec, validate_image, validate_spec
from sandbox_control_plane.utils.errors import ImageNotUsableError, InsecureTemplateError, InvalidInputError
from sandbox_executor.protocol import EXECUTOR_LABEL

SMALL = Resources(500, 256, 1024)
LARGE = Resources(4000, 8192, 50 * 1024)


def spec(**overrides: object) -> TemplateSpec:
    values: dict[str, object] = {
        "name": "t",
        "description": "",
        "image": "img:1",
        "languages": [Language.PYTHON],
        "default_resources": SMALL,
        "max_resources": LARGE,
        "default_timeout_s": 300,
        "network": Network.NONE,
    }
    values.update(overrides)
    return TemplateSpec(**values)  # type: ignore[arg-type]


def fields(error: InvalidInputError | InsecureTemplateError | ImageNotUsableError) -> set[str]:
    return {problem["field"] for problem in error.detail["errors"]}


def test_the_specifications_extremes_are_accepted() -> None:
    validate_spec(spec(default_resources=SMALL, max_resources=LARGE))
    validate_spec(spec(default_resources=LARGE, max_resources=LARGE, default_timeout_s=3600))
    validate_spec(spec(default_timeout_s=60))


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        (Resources(400, 256, 1024), "default_resources.cpu"),
        (Resources(500, 255, 1024), "default_resources.memory"),
        (Resources(500, 256, 1023), "default_resources.disk"),
        (Resources(4001, 256, 1024), "default_resources.cpu"),
        (Resources(500, 8193, 1024), "default_resources.memory"),
        (Resources(500, 256, 51 * 1024), "default_resources.disk"),
    ],
)
def test_resources_outside_the_specification_are_named(resources: Resources, field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_spec(spec(default_resources=resources))
    assert field in fields(raised.value)


def test_a_default_above_the_maximum_is_refused() -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_spec(spec(default_resources=Resources(2000, 512, 2048), max_resources=Resources(1000, 512, 2048)))
    (problem,) = raised.value.detail["errors"]
    assert (problem["field"], problem["value"]) == ("default_resources.cpu", 2.0)


@pytest.mark.parametrize("timeout", [59, 3601, 0])
def test_timeouts_outside_60_to_3600_are_refused(timeout: int) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_spec(spec(default_timeout_s=timeout))
    assert fields(raised.value) == {"default_timeout"}


def test_privileges_are_refused_before_anything_else() -> None:
    with pytest.raises(InsecureTemplateError) as raised:
        validate_spec(spec(privileged=True, cap_add=("NET_ADMIN",), default_timeout_s=1))
    assert fields(raised.value) == {"privileged", "cap_add"}


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "root:staff", " 0 "])
def test_images_running_as_root_are_refused(user: str) -> None:
    with pytest.raises(InsecureTemplateError):
        validate_image("img:1", ImageInfo(exists=True, user=user, labels={EXECUTOR_LABEL: "1"}))


@pytest.mark.parametrize("user", ["1000", "1000:1000", "sandbox", "65534:65534"])
def test_images_with_a_non_root_user_and_the_executor_are_accepted(user: str) -> None:
    validate_image("img:1", ImageInfo(exists=True, user=user, labels={EXECUTOR_LABEL: "1"}))


def test_missing_images_and_images_without_the_executor_are_not_usable() -> None:
    with pytest.raises(ImageNotUsableError):
        validate_image("img:1", ImageInfo(exists=False))
    with pytest.raises(ImageNotUsableError):
        validate_image("img:1", ImageInfo(exists=True, user="1000", labels={}))


@pytest.mark.parametrize(
    ("text", "mib"), [("256Mi", 256), ("1Gi", 1024), ("8Gi", 8192), ("0Mi", None), ("1G", None), ("1.5Gi", None)]
)
def test_quantities(text: str, mib: int | None) -> None:
    assert parse_quantity(text) == mib
    if mib is not None:
        assert parse_quantity(format_quantity(mib)) == mib
