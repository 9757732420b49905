"""Warm pools, and what a session needs for pools, workspaces, idleness and monitoring.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(32)
TENANT = sa.String(64)
TIME = mysql.DATETIME(fsp=6)
TABLE_OPTIONS: dict[str, Any] = {
    "mariadb_engine": "InnoDB",
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "pools",
        sa.Column("id", ID, primary_key=True),
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("template_id", ID, nullable=False),
        sa.Column("cpu_millis", sa.Integer, nullable=False),
        sa.Column("memory_mib", sa.Integer, nullable=False),
        sa.Column("disk_mib", sa.Integer, nullable=False),
        sa.Column("min_size", sa.Integer, nullable=False),
        sa.Column("max_size", sa.Integer, nullable=False),
        sa.Column("misses", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint(
            "tenant_id",
            "template_id",
            "cpu_millis",
            "memory_mib",
            "disk_mib",
            name="uq_pools_tenant_id_template_id_cpu_millis_memory_mib_disk_mib",
        ),
        **TABLE_OPTIONS,
    )
    op.add_column("sessions", sa.Column("pool_id", ID, nullable=True))
    op.add_column("sessions", sa.Column("workspace_id", sa.String(63), nullable=True))
    op.add_column("sessions", sa.Column("idle_timeout_s", sa.Integer, nullable=True))
    op.add_column("sessions", sa.Column("last_activity_at", TIME, nullable=True))
    op.add_column("sessions", sa.Column("cpu_percent", sa.Float, nullable=True))
    op.add_column("sessions", sa.Column("memory_bytes", sa.BigInteger, nullable=True))
    op.add_column("sessions", sa.Column("stats_at", TIME, nullable=True))
    op.create_index("ix_sessions_pool_id_state", "sessions", ["pool_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_sessions_pool_id_state", table_name="sessions")
    for column in (
        "stats_at",
        "memory_bytes",
        "cpu_percent",
        "last_activity_at",
        "idle_timeout_s",
        "workspace_id",
        "pool_id",
    ):
        op.drop_column("sessions", column)
    op.drop_table("pools")
