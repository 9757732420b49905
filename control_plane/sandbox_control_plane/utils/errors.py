"""One error type per failure class, each with its code and what to do about it.

Services raise these; ``api/errors.py`` maps each class to its HTTP status, in one table. Nothing
here knows about HTTP.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ControlPlaneError(Exception):
    """Base of every error a client may see. ``detail`` names what was wrong, as data."""

    error_code: ClassVar[str] = "INTERNAL_ERROR"
    solution: ClassVar[str] = "Retry later; if it persists, report the request_id to the operator."

    def __init__(self, description: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.detail: dict[str, Any] = detail or {}


class InvalidInputError(ControlPlaneError):
    """A request field is out of range, malformed or unknown. ``detail['errors']`` lists each one."""

    error_code = "INVALID_INPUT"
    solution = "Correct the fields listed in error_detail.errors (each names the value allowed) and retry."

    @classmethod
    def field(cls, field: str, value: Any, allowed: str, message: str) -> InvalidInputError:
        return cls(message, {"errors": [{"field": field, "value": value, "allowed": allowed, "message": message}]})


class UnauthenticatedError(ControlPlaneError):
    error_code = "UNAUTHENTICATED"
    solution = "Send 'Authorization: Bearer <token>' with a token your operator issued."


class ForbiddenError(ControlPlaneError):
    error_code = "FORBIDDEN"
    solution = "Use the token issued for this session."


class NotFoundError(ControlPlaneError):
    """Also what another tenant's resource looks like: its existence is not revealed."""

    error_code = "NOT_FOUND"
    solution = "Check the id; list the collection to see what exists for your token."


class InvalidStateTransitionError(ControlPlaneError):
    error_code = "INVALID_STATE_TRANSITION"
    solution = "Read the resource's current state; error_detail lists the states this action is allowed from."


class SessionNotAcceptingError(ControlPlaneError):
    error_code = "SESSION_NOT_ACCEPTING_EXECUTIONS"
    solution = "Create a new session: this one has ended or is ending."


class InsecureTemplateError(ControlPlaneError):
    error_code = "INSECURE_TEMPLATE"
    solution = (
        "Use an image whose user is not root (e.g. USER 1000:1000) and leave privileged off, "
        "capabilities empty and the network 'none' or 'bridge'."
    )


class ImageNotUsableError(ControlPlaneError):
    error_code = "IMAGE_NOT_USABLE"
    solution = "Build the image on the runtime's engine from the sandbox executor image (see control_plane/README.md)."


class TemplateInUseError(ControlPlaneError):
    error_code = "TEMPLATE_IN_USE"
    solution = "Delete the template's live sessions first, or wait until they end."


class ConflictError(ControlPlaneError):
    error_code = "CONFLICT"
    solution = "Choose another name, or update the existing resource."


class WorkspaceInUseError(ControlPlaneError):
    error_code = "WORKSPACE_IN_USE"
    solution = (
        "End the session named in error_detail.session_id (its workspace is saved then), or name another workspace."
    )


class SessionNotReadyError(ControlPlaneError):
    error_code = "SESSION_NOT_READY"
    solution = "Wait until the session is 'ready' (GET /api/v1/sessions/{id}?wait_s=30); an ended session has no files."


class WorkspaceStoreUnavailableError(ControlPlaneError):
    error_code = "WORKSPACE_STORE_UNAVAILABLE"
    solution = "The workspace bucket did not answer or refused: retry later; the operator checks SBX_CP_S3_* settings."


class PayloadTooLargeError(ControlPlaneError):
    error_code = "PAYLOAD_TOO_LARGE"
    solution = "Send a smaller body; error_detail says the limit."


class RuntimeUnavailableError(ControlPlaneError):
    error_code = "RUNTIME_UNAVAILABLE"
    solution = "The container runtime did not answer or refused: retry later; the operator checks the engine."


class DatabaseUnavailableError(ControlPlaneError):
    error_code = "DATABASE_UNAVAILABLE"
    solution = "The database did not answer: retry later; the operator checks MariaDB."


class InternalError(ControlPlaneError):
    error_code = "INTERNAL_ERROR"
