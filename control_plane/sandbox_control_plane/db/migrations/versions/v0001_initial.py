"""Templates, sessions and executions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(32)
TENANT = sa.String(64)
TIME = mysql.DATETIME(fsp=6)
LONG_TEXT = mysql.MEDIUMTEXT()
TABLE_OPTIONS: dict[str, Any] = {
    "mariadb_engine": "InnoDB",
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", ID, primary_key=True),
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False, server_default=""),
        sa.Column("image", sa.String(255), nullable=False),
        sa.Column("languages", sa.JSON, nullable=False),
        sa.Column("default_cpu_millis", sa.Integer, nullable=False),
        sa.Column("default_memory_mib", sa.Integer, nullable=False),
        sa.Column("default_disk_mib", sa.Integer, nullable=False),
        sa.Column("max_cpu_millis", sa.Integer, nullable=False),
        sa.Column("max_memory_mib", sa.Integer, nullable=False),
        sa.Column("max_disk_mib", sa.Integer, nullable=False),
        sa.Column("default_timeout_s", sa.Integer, nullable=False),
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_templates_tenant_id_name"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "sessions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("template_id", ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.String(32), nullable=True),
        sa.Column("image", sa.String(255), nullable=False),
        sa.Column("languages", sa.JSON, nullable=False),
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("cpu_millis", sa.Integer, nullable=False),
        sa.Column("memory_mib", sa.Integer, nullable=False),
        sa.Column("disk_mib", sa.Integer, nullable=False),
        sa.Column("timeout_s", sa.Integer, nullable=False),
        sa.Column("env", sa.JSON, nullable=False),
        sa.Column("container_id", sa.String(128), nullable=True),
        sa.Column("node", sa.String(64), nullable=True),
        sa.Column("executor_seen_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("ready_at", TIME, nullable=True),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("terminated_at", TIME, nullable=True),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_sessions_tenant_id_state_id", "sessions", ["tenant_id", "state", "id"])
    op.create_index("ix_sessions_state_template_id", "sessions", ["state", "template_id"])
    op.create_index("ix_sessions_state_expires_at", "sessions", ["state", "expires_at"])
    op.create_table(
        "executions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("code", LONG_TEXT, nullable=False),
        sa.Column("timeout_s", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("stdout", LONG_TEXT, nullable=False),
        sa.Column("stderr", LONG_TEXT, nullable=False),
        sa.Column("stdout_truncated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("stderr_truncated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("duration_ms", sa.Integer, nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("heartbeat_at", TIME, nullable=True),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_executions_session_id_status_id", "executions", ["session_id", "status", "id"])
    op.create_index("ix_executions_status_heartbeat_at", "executions", ["status", "heartbeat_at"])


def downgrade() -> None:
    op.drop_table("executions")
    op.drop_table("sessions")
    op.drop_table("templates")
