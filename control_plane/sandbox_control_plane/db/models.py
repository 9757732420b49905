"""The tables, as SQLAlchemy Core. Alembic's migrations (``db/migrations``) create them; a test
checks that the migrated database and these definitions agree.

Times are UTC ``DATETIME(6)`` written by the database's clock (``UTC_TIMESTAMP(6)``), so that
instances on different machines compare heartbeats against one clock.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)

ID = sa.String(32)
TENANT = sa.String(64)
TIME = mysql.DATETIME(fsp=6)
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

templates = sa.Table(
    "templates",
    metadata,
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
    sa.UniqueConstraint("tenant_id", "name"),
)

# A session copies what it needs of its template (image, network, languages): a template may change
# or go while its sessions live, and a pool of idle containers (keyed by template and resources)
# can later be claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` on (state, template_id).
sessions = sa.Table(
    "sessions",
    metadata,
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
    # A warm session belongs to the pool it was made for until a create claims it.
    sa.Column("pool_id", ID, nullable=True),
    sa.Column("workspace_id", sa.String(63), nullable=True),
    sa.Column("idle_timeout_s", sa.Integer, nullable=True),
    sa.Column("last_activity_at", TIME, nullable=True),
    # The last usage sample of the container (``/api/v1/containers``).
    sa.Column("cpu_percent", sa.Float, nullable=True),
    sa.Column("memory_bytes", sa.BigInteger, nullable=True),
    sa.Column("stats_at", TIME, nullable=True),
    sa.Index(None, "tenant_id", "state", "id"),
    sa.Index(None, "state", "template_id"),
    sa.Index(None, "state", "expires_at"),
    sa.Index(None, "pool_id", "state"),
)

# A warm pool: containers started ahead for one template and one resource shape.
pools = sa.Table(
    "pools",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("tenant_id", TENANT, nullable=False),
    sa.Column("template_id", ID, nullable=False),
    sa.Column("cpu_millis", sa.Integer, nullable=False),
    sa.Column("memory_mib", sa.Integer, nullable=False),
    sa.Column("disk_mib", sa.Integer, nullable=False),
    sa.Column("min_size", sa.Integer, nullable=False),
    sa.Column("max_size", sa.Integer, nullable=False),
    # Creates that found the pool empty since the last refill: the refill grows towards max_size.
    sa.Column("misses", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.UniqueConstraint("tenant_id", "template_id", "cpu_millis", "memory_mib", "disk_mib"),
)

executions = sa.Table(
    "executions",
    metadata,
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
    sa.Index(None, "session_id", "status", "id"),
    sa.Index(None, "status", "heartbeat_at"),
)

# A tenant's named workspace held by one live session: the primary key lets only one create win.
workspace_leases = sa.Table(
    "workspace_leases",
    metadata,
    sa.Column("tenant_id", TENANT, primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("session_id", ID, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Index(None, "session_id"),
)
