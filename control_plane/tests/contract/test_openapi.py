"""The committed OpenAPI document is the contract: the app must serve exactly it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from sandbox_control_plane.__main__ import openapi_text

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"


def test_the_committed_document_is_the_apps() -> None:
    # On a difference: `python -m sandbox_control_plane openapi > control_plane/openapi.json`, and review it.
    assert COMMITTED.read_text() == openapi_text()


def test_the_served_document_is_the_committed_one(client: httpx.Client) -> None:
    assert client.get("/openapi.json").json() == json.loads(COMMITTED.read_text())


PUBLIC_OPERATIONS = {
    ("GET", "/api/v1/containers"),
    ("GET", "/api/v1/pools"),
    ("POST", "/api/v1/pools"),
    ("DELETE", "/api/v1/pools/{pool_id}"),
    ("GET", "/api/v1/pools/{pool_id}"),
    ("PUT", "/api/v1/pools/{pool_id}/size"),
    ("GET", "/api/v1/sessions"),
    ("POST", "/api/v1/sessions"),
    ("DELETE", "/api/v1/sessions/{session_id}"),
    ("GET", "/api/v1/sessions/{session_id}"),
    ("GET", "/api/v1/sessions/{session_id}/executions"),
    ("POST", "/api/v1/sessions/{session_id}/executions"),
    ("GET", "/api/v1/sessions/{session_id}/executions/{execution_id}"),
    ("GET", "/api/v1/sessions/{session_id}/files"),
    ("PUT", "/api/v1/sessions/{session_id}/files"),
    ("POST", "/api/v1/sessions/{session_id}/executions/{execution_id}/cancel"),
    ("GET", "/api/v1/templates"),
    ("POST", "/api/v1/templates"),
    ("DELETE", "/api/v1/templates/{template_id}"),
    ("GET", "/api/v1/templates/{template_id}"),
    ("PUT", "/api/v1/templates/{template_id}"),
    ("GET", "/api/v1/workspaces"),
    ("DELETE", "/api/v1/workspaces/{name}"),
}


def test_every_public_operation_needs_a_token_and_documents_its_errors() -> None:
    document = json.loads(COMMITTED.read_text())
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
    ]
    # Every route, spelled out: a new one must be added here, and so gets these checks knowingly.
    assert {(method.upper(), path) for path, method, _ in operations} == PUBLIC_OPERATIONS
    for path, method, operation in operations:
        assert operation["security"] == [{"HTTPBearer": []}], (method, path)
        for status in ("401", "422", "503"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
