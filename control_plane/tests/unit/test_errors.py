"""Every failure class has an HTTP status; validation errors name field, value and what is allowed."""

from __future__ import annotations

from sandbox_control_plane.api.errors import HTTP_STATUS, error_body, status_of, translate_validation
from sandbox_control_plane.utils import errors


def all_subclasses(cls: type[errors.ControlPlaneError]) -> set[type[errors.ControlPlaneError]]:
    found: set[type[errors.ControlPlaneError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *all_subclasses(sub)}
    return found


def test_every_error_class_has_a_status_code_and_a_solution() -> None:
    for cls in all_subclasses(errors.ControlPlaneError):
        assert any(base in HTTP_STATUS for base in cls.__mro__), cls
        assert cls.solution, cls
        assert cls.error_code, cls
    codes = [cls.error_code for cls in HTTP_STATUS if cls.__name__ != "RouteNotFoundError"]
    assert len(codes) == len(set(codes))


def test_the_body_has_exactly_the_five_keys() -> None:
    body = error_body(errors.NotFoundError("gone", {"id": "x"}), "req_1")
    assert body == {
        "error_code": "NOT_FOUND",
        "description": "gone",
        "error_detail": {"id": "x"},
        "solution": errors.NotFoundError.solution,
        "request_id": "req_1",
    }
    assert status_of(errors.DatabaseUnavailableError("down")) == 503


def test_pydantic_errors_become_named_problems() -> None:
    translated = translate_validation(
        [
            {
                "type": "less_than_equal",
                "loc": ("body", "resources", "cpu"),
                "msg": "too big",
                "input": 8,
                "ctx": {"le": 4},
            },
            {"type": "missing", "loc": ("body", "template_id"), "msg": "Field required", "input": {}},
            {"type": "enum", "loc": ("query", "state"), "msg": "bad", "input": "x", "ctx": {"expected": "'a' or 'b'"}},
            {
                "type": "string_too_long",
                "loc": ("body", "env", "TOKEN"),
                "msg": "long",
                "input": "secret" * 50,
                "ctx": {"max_length": 4096},
            },
        ]
    )
    problems = {problem["field"]: problem for problem in translated.detail["errors"]}
    assert problems["resources.cpu"] == {
        "field": "resources.cpu",
        "in": "body",
        "value": 8,
        "allowed": "<= 4",
        "message": "too big",
    }
    assert problems["template_id"]["value"] is None
    assert problems["template_id"]["allowed"].startswith("a value")
    assert problems["state"]["in"] == "query"
    assert problems["state"]["allowed"] == "one of 'a' or 'b'"
    assert problems["env.TOKEN"]["value"] == "(not shown)"
    assert "secret" not in str(translated.detail)
