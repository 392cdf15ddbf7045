from __future__ import annotations

import time
from datetime import datetime

import httpx

from my_app import application, cache
from my_app.config import Settings
from my_app_web.endpoint import create_app
from tests.support.conn_case import client_for


async def test_health_answers_ok_with_a_utc_timestamp(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert datetime.fromisoformat(body["timestamp"]).utcoffset() is not None


async def test_ready_reports_the_database_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "jobs": "ok", "pubsub": "ok"},
    }


async def test_ready_is_503_when_postgresql_is_down(settings: Settings) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    dead = settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/postgres"})
    down = application.Application.build(dead)
    await down.start()
    try:
        async with client_for(create_app(dead, start_application=False)) as http:
            response = await http.get("/ready")
    finally:
        await down.stop()

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "checks": {"database": "error", "cache": "ok", "jobs": "error", "pubsub": "error"},
    }


async def test_ready_is_503_with_the_cache_in_error_when_redis_is_down(client: httpx.AsyncClient) -> None:
    # Port 1 on loopback: nothing listens there, so Redis "is down" and the connection is refused.
    dead = cache.Cache("redis://127.0.0.1:1/0", timeout=0.5, namespace="health-test")
    await dead.start()
    try:
        with cache.running.holding(dead):
            started = time.monotonic()
            response = await client.get("/ready")
            elapsed = time.monotonic() - started
    finally:
        await dead.stop()

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "checks": {"database": "ok", "cache": "error", "jobs": "ok", "pubsub": "ok"},
    }
    assert elapsed < 2
