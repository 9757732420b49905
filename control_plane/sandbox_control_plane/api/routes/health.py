"""Liveness, readiness and metrics: outside /api/v1 and without a token."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sandbox_control_plane.api.deps import Ctx
from sandbox_control_plane.api.errors import NotReadyError, documented
from sandbox_control_plane.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/ready", response_model=Readiness, responses=documented(503))
async def ready(ctx: Ctx) -> Readiness:
    """The database and the container runtime answer."""
    database, runtime = await asyncio.gather(ctx.db.ping(), ctx.runtime.ping())
    if not (database and runtime):
        raise NotReadyError("Not ready.", {"database": database, "runtime": runtime})
    return Readiness(status="ready", database=database, runtime=runtime)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(ctx: Ctx) -> Response:
    """Prometheus metrics of this instance."""
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
