"""Liveness and readiness (the seed's HealthController)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from my_app import cache, jobs, pubsub, repo
from my_app_web.controllers.api.json_response import JSONBody

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)

CheckStatus = Literal["ok", "error"]


class Health(BaseModel):
    status: Literal["ok"]
    timestamp: datetime


class Readiness(BaseModel):
    status: CheckStatus
    checks: dict[str, CheckStatus]


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> JSONBody:
    # Health's JSON, rendered by orjson as the API's views are (the same bytes), without validating
    # a dict we just wrote: probes and load balancers ask often.
    return JSONBody({"status": "ok", "timestamp": datetime.now(UTC)})


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: the database (and every other dependency) answers",
    responses={503: {"model": Readiness, "description": "A dependency is down"}},
)
async def ready(request: Request) -> JSONResponse:
    timeout = request.app.state.settings.ready_timeout
    checks: dict[str, CheckStatus] = {
        "database": await _check(repo.ping(), timeout, "database"),
        # The read cache answers (mem:// always does; Redis when REDIS_URL); when it does not, reads
        # use the database and catalog writes are refused (my_app.cache).
        "cache": await _check(cache.ping(), min(timeout, cache.current().timeout), "cache"),
        "jobs": await _check(_jobs_ready(request), timeout, "jobs"),
        # Other nodes are heard only while the PubSub listener is connected.
        "pubsub": "ok" if pubsub.connected() else "error",
    }
    status: CheckStatus = "ok" if all(value == "ok" for value in checks.values()) else "error"
    body = Readiness(status=status, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if status == "ok" else 503)


async def _jobs_ready(request: Request) -> None:
    """The queue's tables answer and, when this node runs job workers, every one of them is running."""
    await jobs.ping()
    running = getattr(request.app.state, "application", None)
    workers = running.job_workers() if running is not None else None
    if workers is not None and not workers.running():
        raise RuntimeError(f"job workers not running for queues {', '.join(workers.down())}")


async def _check(probe: Awaitable[object], limit: float, name: str) -> CheckStatus:
    try:
        await asyncio.wait_for(probe, limit)
    except Exception as exc:  # any failure, a timeout included, means "not ready"
        logger.warning("readiness check %s failed: %s", name, exc)
        return "error"
    return "ok"
