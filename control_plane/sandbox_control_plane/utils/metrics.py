"""Prometheus metrics of one instance, in their own registry.

``sbx_sessions`` is read from the database by the monitor, so every instance reports the whole
fleet's count: aggregate it with max(), not sum(). Counters and histograms are this instance's own.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_QUERY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.sessions = Gauge("sbx_sessions", "Sessions by state (whole database)", ["state"], registry=self.registry)
        self.executions_finished = Counter(
            "sbx_executions_finished",
            "Executions that reached a final status, by status and reason",
            ["status", "reason"],
            registry=self.registry,
        )
        self.http_request_duration = Histogram(
            "sbx_http_request_duration_seconds",
            "Time to answer a request, by route template",
            ["api", "method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.session_create_duration = Histogram(
            "sbx_session_create_duration_seconds",
            "Time from a create request to the session's container started",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.session_ready_duration = Histogram(
            "sbx_session_ready_duration_seconds",
            "Time from a create request to the executor's ready report",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.execution_queue_duration = Histogram(
            "sbx_execution_queue_duration_seconds",
            "Time from submission to the executor claiming the execution",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.execution_run_duration = Histogram(
            "sbx_execution_run_duration_seconds",
            "Time the code ran, by language",
            ["language"],
            buckets=_RUN_BUCKETS,
            registry=self.registry,
        )
        self.pool_claims = Counter(
            "sbx_pool_claims",
            "Session creates that matched a warm pool, by outcome (hit: a warm container; miss: cold start)",
            ["outcome"],
            registry=self.registry,
        )
        self.pool_members = Gauge(
            "sbx_pool_members",
            "Unclaimed containers of the warm pools (whole database), by state (warm, starting)",
            ["state"],
            registry=self.registry,
        )
        self.container_probe_failures = Counter(
            "sbx_container_probe_failures",
            "Sessions the health probe ended, by reason (executor unresponsive, container lost, orphan removed)",
            ["reason"],
            registry=self.registry,
        )
        self.monitor_sweep_duration = Histogram(
            "sbx_monitor_sweep_duration_seconds",
            "Time of one sweep of the monitor (liveness, cleanup, probes, usage), on the instance holding its lock",
            buckets=_RUN_BUCKETS,
            registry=self.registry,
        )
        self.db_query_duration = Histogram(
            "sbx_db_query_duration_seconds",
            "Time of one database statement, driver round trip included",
            buckets=_QUERY_BUCKETS,
            registry=self.registry,
        )
