"""Dependencies of the routes: the instance's context and the caller's tenant."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sandbox_control_plane.context import Context
from sandbox_control_plane.utils.errors import UnauthenticatedError

bearer = HTTPBearer(auto_error=False, description="A tenant's token (SBX_CP_API_TOKENS).")


# Dependencies are ``async def``: FastAPI runs plain ``def`` ones in a thread pool, a thread hop
# per request (and a queue behind its 40 tokens under load).
def context_of(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


async def context(request: Request) -> Context:
    return context_of(request)


async def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


async def tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The tenant of the Bearer token; every resource is looked up within it."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise UnauthenticatedError("A Bearer token is required.", {"header": "Authorization"})
    digest = hashlib.sha256(credentials.credentials.encode()).digest()
    found = context_of(request).settings.tenants_by_token_hash.get(digest)
    if found is None:
        raise UnauthenticatedError("The Bearer token is not known.", {"header": "Authorization"})
    return found


Ctx = Annotated[Context, Depends(context)]
Tenant = Annotated[str, Depends(tenant)]
RequestId = Annotated[str, Depends(request_id)]
