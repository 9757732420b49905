"""The internal API's token check: the internal token, or the session's own derived token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sandbox_control_plane.context import Context
from sandbox_control_plane.utils.errors import ForbiddenError, UnauthenticatedError
from sandbox_control_plane.utils.ids import ID_PATTERN
from sandbox_control_plane.utils.tokens import token_opens_session

bearer = HTTPBearer(auto_error=False, description="SBX_CP_INTERNAL_API_TOKEN or the session's derived token.")


async def session_caller(
    request: Request,
    session_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=32)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The session id the caller may act for (the path's), or 401/403."""
    if credentials is None or not credentials.credentials:
        raise UnauthenticatedError("The internal API needs a Bearer token.", {"header": "Authorization"})
    ctx: Context = request.app.state.context
    secret = ctx.settings.internal_api_token.get_secret_value()
    if not token_opens_session(credentials.credentials, secret, session_id):
        raise ForbiddenError("The token does not open this session.", {"session_id": session_id})
    return session_id


SessionCaller = Annotated[str, Depends(session_caller)]
