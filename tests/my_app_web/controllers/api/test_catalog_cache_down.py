"""The catalog API while the shared cache (Redis) is down: reads answer from the database at once,
writes are refused with 503 before anything is written (a write the cache could not hear of would
let other nodes serve the value it replaced), and /ready says why."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import httpx

from my_app import cache, catalog
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.catalog import product_fixture

DEAD_REDIS = "redis://127.0.0.1:1/0"  # port 1 on loopback: nothing listens, every connection is refused


@contextlib.asynccontextmanager
async def redis_down() -> AsyncIterator[cache.Cache]:
    """The running app's cache is a Redis that is down, inside the block."""
    dead = cache.Cache(DEAD_REDIS, timeout=0.5, namespace="redis-down")
    await dead.start()
    try:
        with cache.running.holding(dead):
            yield dead
    finally:
        await dead.stop()


async def test_product_reads_answer_from_the_database_at_once(client: httpx.AsyncClient) -> None:
    product = await product_fixture(price="4.50")

    async with redis_down() as down:
        started = time.monotonic()
        responses = [await client.get(f"/api/products/{product.id}") for _ in range(20)]
        elapsed = time.monotonic() - started
        categories = await client.get("/api/categories")

    assert [response.status_code for response in responses] == [200] * 20
    assert {response.json()["data"]["price"] for response in responses} == {"4.50"}
    assert categories.status_code == 200
    assert elapsed < 2
    assert down.stats().errors >= 1


async def test_writes_are_refused_with_503_and_nothing_is_written(
    client: httpx.AsyncClient, admin_auth: dict[str, str]
) -> None:
    product = await product_fixture(price="4.50")

    async with redis_down():
        response = await client.patch(
            f"/api/products/{product.id}", json={"product": {"price": "9.99"}}, headers=admin_auth
        )

    assert response.status_code == 503
    assert response.json() == {"errors": {"detail": "Service Unavailable"}}
    assert response.headers["retry-after"] == "1"
    assert (await catalog.get_product_or_404(SYSTEM, product.id)).price == product.price
