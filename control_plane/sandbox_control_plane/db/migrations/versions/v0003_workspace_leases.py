"""Workspace leases: at most one live session holds a tenant's workspace.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = mysql.DATETIME(fsp=6)
TABLE_OPTIONS: dict[str, Any] = {
    "mariadb_engine": "InnoDB",
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "workspace_leases",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_workspace_leases_session_id", "workspace_leases", ["session_id"])


def downgrade() -> None:
    op.drop_table("workspace_leases")
