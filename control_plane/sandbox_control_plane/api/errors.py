"""Errors to HTTP, in one place: the status of each failure class, the body of every error.

Every error response is ``{error_code, description, error_detail, solution, request_id}``; no
handler ever puts a stack trace or an exception's text from a library in it.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from sandbox_control_plane.config.logging import get_logger
from sandbox_control_plane.utils import errors as e

log = get_logger(__name__)


class RouteNotFoundError(e.NotFoundError):
    solution = "Check the path and method against the OpenAPI document at /openapi.json."


class MethodNotAllowedError(e.ControlPlaneError):
    error_code = "METHOD_NOT_ALLOWED"
    solution = "Check the method against the OpenAPI document at /openapi.json."


class NotReadyError(e.ControlPlaneError):
    error_code = "NOT_READY"
    solution = "Wait until the database and the container runtime answer; error_detail says which does not."


HTTP_STATUS: dict[type[e.ControlPlaneError], int] = {
    e.InvalidInputError: 422,
    e.InsecureTemplateError: 422,
    e.ImageNotUsableError: 422,
    e.UnauthenticatedError: 401,
    e.ForbiddenError: 403,
    e.NotFoundError: 404,
    RouteNotFoundError: 404,
    MethodNotAllowedError: 405,
    e.InvalidStateTransitionError: 409,
    e.SessionNotAcceptingError: 409,
    e.TemplateInUseError: 409,
    e.ConflictError: 409,
    e.WorkspaceInUseError: 409,
    e.SessionNotReadyError: 409,
    e.PayloadTooLargeError: 413,
    e.RuntimeUnavailableError: 503,
    e.WorkspaceStoreUnavailableError: 503,
    e.DatabaseUnavailableError: 503,
    NotReadyError: 503,
    e.InternalError: 500,
}


def status_of(error: e.ControlPlaneError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def error_body(error: e.ControlPlaneError, request_id: str) -> dict[str, Any]:
    return {
        "error_code": error.error_code,
        "description": error.description,
        "error_detail": error.detail,
        "solution": error.solution,
        "request_id": request_id,
    }


def error_response(
    error: e.ControlPlaneError, request_id: str, extra_headers: dict[str, str] | None = None
) -> Response:
    headers = dict(extra_headers or {})
    if isinstance(error, e.UnauthenticatedError):
        headers["WWW-Authenticate"] = "Bearer"
    return Response(
        orjson.dumps(error_body(error, request_id)),
        status_code=status_of(error),
        media_type="application/json",
        headers=headers,
    )


_HIDDEN_FIELDS = ("env.",)
_MAX_ECHO = 120


def _echo(field: str, value: Any) -> Any:
    """The bad value as the client sent it, unless it may be a secret or is too large to echo."""
    if field.startswith(_HIDDEN_FIELDS):
        return "(not shown)"
    if isinstance(value, str) and len(value) > _MAX_ECHO:
        return value[:_MAX_ECHO] + f"... ({len(value)} characters)"
    if isinstance(value, dict | list):
        text = orjson.dumps(value, default=str)
        return value if len(text) <= _MAX_ECHO else f"({type(value).__name__} of {len(value)} items)"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)[:_MAX_ECHO]


def _allowed(error: dict[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    kind = error.get("type", "")
    bounds = [
        f"{word} {ctx[key]}" for key, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")) if key in ctx
    ]
    if bounds:
        return " and ".join(bounds)
    if "min_length" in ctx or "max_length" in ctx:
        return f"length {ctx.get('min_length', 0)} to {ctx.get('max_length', 'any')}"
    if "pattern" in ctx:
        return f"matching {ctx['pattern']}"
    if "expected" in ctx:
        return f"one of {ctx['expected']}"
    if kind == "missing":
        return "a value (the field is required)"
    if kind == "extra_forbidden":
        return "no such field (see the OpenAPI document)"
    if kind == "json_invalid":
        return "a JSON document"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"a {kind.removesuffix('_type').removesuffix('_parsing')}"
    return str(error.get("msg", "a valid value"))


def translate_validation(errors: list[dict[str, Any]]) -> e.InvalidInputError:
    problems = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        where, path = (location[0], location[1:]) if location else ("body", [])
        field = ".".join(path) or where
        value = None if error.get("type") == "missing" else error.get("input")
        problems.append(
            {
                "field": field,
                "in": where,
                "value": _echo(field, value),
                "allowed": _allowed(error),
                "message": str(error.get("msg", "invalid")),
            }
        )
    names = ", ".join(sorted({problem["field"] for problem in problems}))
    return e.InvalidInputError(f"The request has invalid values: {names}.", {"errors": problems})


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path answers (Starlette's own 405 names only one route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    async def on_control_plane_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, e.ControlPlaneError)  # noqa: S101 - registered for this class only
        if status_of(error) >= 500:
            log.warning(
                "request_failed", error_code=error.error_code, description=error.description, detail=error.detail
            )
        return error_response(error, request_id_of(request))

    async def on_validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)  # noqa: S101
        return error_response(translate_validation(list(error.errors())), request_id_of(request))

    async def on_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)  # noqa: S101
        mapped: e.ControlPlaneError
        if error.status_code == 404:
            mapped = RouteNotFoundError(f"No route {request.method} {request.url.path}.", {"path": request.url.path})
        elif error.status_code == 405:
            allowed = allowed_methods(request)
            mapped = MethodNotAllowedError(
                f"{request.method} is not allowed on {request.url.path}.",
                {"method": request.method, "allowed": allowed},
            )
            return error_response(mapped, request_id_of(request), {"Allow": ", ".join(allowed)})
        elif error.status_code == 400:
            # The body could not be read as JSON (bytes that are not UTF-8, for one): invalid input.
            mapped = e.InvalidInputError(
                "The request body is not a JSON document.",
                {
                    "errors": [
                        {
                            "field": "body",
                            "in": "body",
                            "value": None,
                            "allowed": "a JSON document",
                            "message": "unreadable body",
                        }
                    ]
                },
            )
        else:
            mapped = e.InvalidInputError(f"The request was refused ({error.status_code}).", {})
            return Response(
                orjson.dumps(error_body(mapped, request_id_of(request))),
                status_code=error.status_code,
                media_type="application/json",
            )
        return error_response(mapped, request_id_of(request), dict(error.headers or {}))

    async def on_unexpected(request: Request, error: Exception) -> Response:
        log.error("unexpected_error", exc_info=error)
        mapped = e.InternalError("The control plane failed to handle the request.", {})
        return error_response(mapped, request_id_of(request))

    app.add_exception_handler(e.ControlPlaneError, on_control_plane_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route may answer with."""
    from sandbox_control_plane.api.schemas import ErrorResponse

    texts = {
        401: "No or unknown Bearer token",
        403: "Token does not open this resource",
        404: "Not found (or another tenant's)",
        409: "Not allowed in the resource's current state",
        413: "Request body too large",
        422: "Invalid input: every field at fault is named",
        503: "Database or container runtime unavailable",
    }
    return {status: {"model": ErrorResponse, "description": texts[status]} for status in statuses}
