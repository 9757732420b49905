"""The outermost layer of both APIs (plain ASGI, no per-request task): request ids, body size
limit, access log, latency histogram, and a last-resort error body.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import structlog

from sandbox_control_plane.api.errors import error_body
from sandbox_control_plane.config.logging import get_logger
from sandbox_control_plane.utils.errors import InternalError, PayloadTooLargeError
from sandbox_control_plane.utils.ids import is_acceptable_request_id, new_request_id
from sandbox_control_plane.utils.metrics import Metrics
from sandbox_executor.protocol import REQUEST_ID_HEADER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = get_logger("sandbox_control_plane.access")
_HEADER = REQUEST_ID_HEADER.lower().encode()


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        api: str,
        metrics: Metrics,
        max_body: int,
        quiet_paths: set[str],
        streamed_suffix: str | None = None,
    ) -> None:
        self.app = app
        self.api = api
        self.metrics = metrics
        self.max_body = max_body
        self.quiet_paths = quiet_paths
        # PUT bodies of paths ending so are streamed by their route, which applies its own limit.
        self.streamed_suffix = streamed_suffix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        given = headers.get(_HEADER, b"").decode("latin-1")
        request_id = given if given and is_acceptable_request_id(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (_HEADER, request_id.encode())]
            await send(message)

        async def send_error(error: InternalError | PayloadTooLargeError, code: int) -> None:
            body = orjson.dumps(error_body(error, request_id))
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": code,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

        streamed = bool(
            self.streamed_suffix and scope["method"] == "PUT" and scope.get("path", "").endswith(self.streamed_suffix)
        )
        declared = headers.get(b"content-length")
        if not streamed and declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await send_error(self._too_large(), 413)
            self._record(scope, status, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body and not streamed:
                    raise self._too_large()
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception:
            log.exception("unhandled_error", path=scope.get("path"))
            if not response_started:
                await send_error(InternalError("The control plane failed to handle the request.", {}), 500)
        finally:
            self._record(scope, status, started)

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The request body is larger than {self.max_body} bytes.", {"limit_bytes": self.max_body}
        )

    def _record(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
        if scope.get("root_path"):
            template = scope["root_path"] + template
        self.metrics.http_request_duration.labels(self.api, scope["method"], template, str(status)).observe(elapsed)
        if scope.get("path") not in self.quiet_paths:
            log.info(
                "request",
                api=self.api,
                method=scope["method"],
                path=scope.get("path"),
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
