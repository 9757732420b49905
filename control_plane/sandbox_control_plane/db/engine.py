"""The connection pool and transactions. Database failures become ``DatabaseUnavailableError``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.utils.errors import DatabaseUnavailableError

# The database's clock: every instance writes and compares times against it.
NOW: sa.ColumnElement[Any] = sa.literal_column("UTC_TIMESTAMP(6)")


def make_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        # No ping before each checkout and no rollback on each return: both are a round trip per
        # transaction, and every use here ends its transaction itself (``Database.transaction``).
        # A connection the server dropped fails one request (503) and the pool replaces it.
        pool_pre_ping=False,
        pool_reset_on_return=None,
        pool_recycle=1800,
        pool_timeout=10,
        # Each transaction sees rows committed before its statements, not a snapshot of its start:
        # waiters re-read rows other instances change.
        isolation_level="READ COMMITTED",
    )


def instrument(engine: AsyncEngine, observe: Callable[[float], None]) -> None:
    """Time every statement (driver round trip included) into ``observe``, in seconds."""

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(_conn: Any, _cursor: Any, _statement: Any, _params: Any, context: Any, _many: Any) -> None:
        context._sbx_started = time.perf_counter()

    @sa.event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(_conn: Any, _cursor: Any, _statement: Any, _params: Any, context: Any, _many: Any) -> None:
        started = getattr(context, "_sbx_started", None)
        if started is not None:
            observe(time.perf_counter() - started)


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed on success and rolled back on any error."""
        try:
            async with self.engine.begin() as connection:
                yield connection
        except (OperationalError, PoolTimeoutError, ConnectionError, OSError) as error:
            raise DatabaseUnavailableError("The database did not answer.", {"cause": type(error).__name__}) from error
        except DBAPIError as error:
            if error.connection_invalidated:
                raise DatabaseUnavailableError(
                    "The connection to the database was lost.", {"cause": type(error).__name__}
                ) from error
            raise

    async def ping(self) -> bool:
        try:
            async with self.transaction() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except DatabaseUnavailableError:
            return False
        return True

    async def server_version(self) -> str:
        async with self.transaction() as connection:
            return str((await connection.execute(sa.text("SELECT VERSION()"))).scalar_one())

    async def dispose(self) -> None:
        await self.engine.dispose()
