"""The migrated schema is the one the code uses: Alembic's autogenerate finds nothing to add."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from sandbox_control_plane.db.models import metadata
from tests.support import make_settings


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def test_models_and_migrations_agree(migrated: None, runtime_dir: Path) -> None:
    async def compare() -> list[Any]:
        engine = create_async_engine(make_settings(runtime_dir).database_url.get_secret_value())
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_differences)
        finally:
            await engine.dispose()

    assert asyncio.run(compare()) == []
