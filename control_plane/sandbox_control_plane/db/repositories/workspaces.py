"""Workspace leases: which live session holds a tenant's named workspace."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox_control_plane.db.models import workspace_leases as w
from sandbox_control_plane.db.repositories.common import NOW, is_duplicate_key
from sandbox_control_plane.utils.errors import WorkspaceInUseError


async def holder(conn: AsyncConnection, tenant_id: str, name: str) -> str | None:
    found = await conn.execute(sa.select(w.c.session_id).where(w.c.tenant_id == tenant_id, w.c.name == name))
    return found.scalar_one_or_none()


async def lease(conn: AsyncConnection, tenant_id: str, name: str, session_id: str) -> None:
    """Make ``session_id`` the workspace's holder, or ``WorkspaceInUseError`` naming the one that is."""
    try:
        await conn.execute(sa.insert(w).values(tenant_id=tenant_id, name=name, session_id=session_id, created_at=NOW))
    except IntegrityError as error:
        if not is_duplicate_key(error):
            raise
        current = await holder(conn, tenant_id, name)
        raise WorkspaceInUseError(
            f"The workspace {name} is held by session {current}.",
            {"field": "workspace", "value": name, "session_id": current},
        ) from error


async def release(conn: AsyncConnection, session_id: str) -> None:
    """Let go of whatever workspace the session holds (none: nothing happens)."""
    await conn.execute(sa.delete(w).where(w.c.session_id == session_id))
