"""Never stale across nodes: two `myapp server` processes sharing Redis (REDIS_URL), one database.

Each iteration writes through node A's JSON API and reads through node B at once: every read
returns what was just written, though node B keeps what it reads in the shared cache (the test
finds its values in Redis, so it would notice a cache that was never used).

Needs Redis on REDIS_URL (default 127.0.0.1:6379, which CI starts): skipped without it, failed
without it under CI=true. The servers' cache keys are namespaced by the (per-worker) test
database; the namespace is emptied before the servers start.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import text

from my_app import application, cache, database, repo
from my_app.config import Settings
from tests.support.fixtures.api import api_user, auth_for
from tests.support.live_server import ServerProcess, started_side_by_side
from tests.support.processes import free_port
from tests.support.services import REDIS_URL, needs_redis

pytestmark = [pytest.mark.integration, needs_redis()]

ROUNDS = 200
CATEGORY_ROUNDS = 50


def namespace(settings: Settings) -> str:
    """The servers' cache namespace (application.CacheChild): named after the test database."""
    return f"my_app:{conninfo_to_dict(database.resolve(settings).url).get('dbname') or 'postgres'}"


@pytest.fixture
async def nodes(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers with REDIS_URL (PubSub and the cache on Redis), started side by side."""
    leftovers = cache.Cache(REDIS_URL, namespace=namespace(settings))
    await leftovers.start()
    await leftovers.clear()
    await leftovers.stop()
    env: dict[str, str | None] = {"REDIS_URL": REDIS_URL, "CACHE_URL": None}
    servers = tuple(ServerProcess(port=free_port(), log=tmp_path / f"node{n}.log", env=env) for n in (1, 2))
    async with started_side_by_side(*servers):
        yield servers[0], servers[1]


@pytest.fixture
async def admin_headers(started_app: application.Application) -> AsyncIterator[dict[str, str]]:
    """A committed admin's bearer header; the admin and the catalog rows the test made are deleted after."""
    admin = await api_user(role="admin")
    try:
        yield await auth_for(admin)
    finally:
        async with repo.engine().begin() as connection:
            await connection.execute(text("DELETE FROM products WHERE sku LIKE 'NODES-%'"))
            await connection.execute(text("DELETE FROM categories WHERE slug LIKE 'nodes-%'"))
            await connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": admin.id})


async def test_a_write_on_one_node_is_read_on_the_other_at_once(
    nodes: tuple[ServerProcess, ServerProcess], admin_headers: dict[str, str], settings: Settings
) -> None:
    node_a, node_b = nodes
    tag = uuid.uuid4().hex[:8]
    async with (
        httpx.AsyncClient(base_url=node_a.base_url, headers=admin_headers, timeout=10) as a,
        httpx.AsyncClient(base_url=node_b.base_url, timeout=10) as b,
    ):
        made = await a.post("/api/categories", json={"category": {"name": f"Tea {tag}", "slug": f"nodes-{tag}"}})
        assert made.status_code == 201, made.text
        category_id = made.json()["data"]["id"]
        product = {"name": "Green tea", "price": "1.00", "sku": f"NODES-{tag}", "stock": 1, "category_id": category_id}
        made = await a.post("/api/products", json={"product": product})
        assert made.status_code == 201, made.text
        product_url = f"/api/products/{made.json()['data']['id']}"

        # The product: node B reads it (and caches it) before each write on node A.
        for round_ in range(ROUNDS):
            cached = await b.get(product_url)
            assert cached.status_code == 200, cached.text
            price = f"{round_ + 2}.{round_ % 100:02d}"
            written = await a.patch(product_url, json={"product": {"price": price}})
            assert written.status_code == 200, written.text
            read = await b.get(product_url)
            assert read.status_code == 200, read.text
            assert read.json()["data"]["price"] == price, f"round {round_}: node B read a stale price"

        # The category list: created on A, listed on B at once; a rename on A, seen in B's product.
        for round_ in range(CATEGORY_ROUNDS):
            listed = await b.get("/api/categories")
            assert listed.status_code == 200, listed.text
            slug = f"nodes-{tag}-{round_}"
            made = await a.post("/api/categories", json={"category": {"name": f"Cat {tag} {round_}", "slug": slug}})
            assert made.status_code == 201, made.text
            listed = await b.get("/api/categories")
            assert slug in {c["slug"] for c in listed.json()["data"]}, f"round {round_}: node B missed a category"

        renamed = await a.patch(f"/api/categories/{category_id}", json={"category": {"name": f"Teas {tag}"}})
        assert renamed.status_code == 200, renamed.text
        assert (await b.get(product_url)).json()["data"]["category"]["name"] == f"Teas {tag}"

        # What node B read is in Redis, under the product's current generations.
        with redis.Redis.from_url(REDIS_URL) as client:
            kept = client.keys(f"{namespace(settings)}:catalog:product:{product_url.rsplit('/', 1)[1]}:*")
        assert kept, "node B kept nothing in the shared cache"

        deleted = await a.delete(product_url)
        assert deleted.status_code == 204
        assert (await b.get(product_url)).status_code == 404

    assert "cache unavailable" not in node_a.output() + node_b.output()
