"""Helpers the repositories share: time arithmetic on the database's clock, rows to records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from sandbox_control_plane.db.engine import NOW


def seconds_ago(seconds: float) -> sa.ColumnElement[Any]:
    """``UTC_TIMESTAMP(6) - INTERVAL n MICROSECOND`` (n computed here from a number, never from input text)."""
    return sa.literal_column(f"UTC_TIMESTAMP(6) - INTERVAL {int(seconds * 1_000_000)} MICROSECOND")


def seconds_ahead(seconds: int) -> sa.ColumnElement[Any]:
    return sa.literal_column(f"UTC_TIMESTAMP(6) + INTERVAL {int(seconds)} SECOND")


def utc(value: datetime | None) -> datetime | None:
    """MariaDB returns naive datetimes; every stored time is UTC."""
    return None if value is None else value.replace(tzinfo=UTC)


def utc_required(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def is_duplicate_key(error: IntegrityError) -> bool:
    # MariaDB's ER_DUP_ENTRY.
    return bool(error.orig is not None and getattr(error.orig, "args", (None,))[0] == 1062)


__all__ = ["NOW", "is_duplicate_key", "seconds_ago", "seconds_ahead", "utc", "utc_required"]
