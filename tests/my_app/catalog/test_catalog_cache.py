"""The Catalog's cached reads: counted hits, and no read after a write ever sees what it replaced.

These run on the test app's cache (`mem://`, this process). The same reads through two app nodes
sharing Redis: tests/my_app_web/controllers/api/test_catalog_cache_nodes.py.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import cache, catalog, pubsub
from my_app.accounts import Scope
from my_app.cache import CacheStats
from my_app.errors import ValidationError
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.catalog import category_fixture, product_fixture
from tests.support.query_count import count_queries

pytestmark = pytest.mark.usefixtures("db")
VISITOR = Scope.for_user(None)


def counted_since(before: CacheStats) -> tuple[int, int]:
    """(hits, misses) since `before`."""
    now = cache.stats()
    return now.hits - before.hits, now.misses - before.misses


# --- Hits and misses ---


async def test_a_product_read_again_is_a_hit_served_without_a_query() -> None:
    product = await product_fixture(name="Green tea", price="4.50")
    before = cache.stats()

    first = await catalog.get_product(VISITOR, product.id)
    async with count_queries() as queries:
        second = await catalog.get_product_or_404(VISITOR, str(product.id))

    assert counted_since(before) == (1, 1)
    assert queries == []
    assert first is not None
    for found in (first, second):
        assert (found.id, found.name, found.price, found.sku) == (product.id, "Green tea", Decimal("4.50"), product.sku)
        assert (found.category.id, found.category.name) == (product.category.id, product.category.name)
        assert found.inserted_at == product.inserted_at


async def test_a_cached_product_belongs_to_no_session() -> None:
    product = await product_fixture()
    await catalog.get_product(VISITOR, product.id)

    cached = await catalog.get_product(VISITOR, product.id)

    assert cached is not None
    # Rebuilt from plain column values, as a query would have loaded it: no session, nothing left to load.
    state = inspect(cached)
    assert state.session is None
    assert state.detached
    assert state.unloaded == set()
    assert inspect(cached.category).unloaded == set()
    assert (cached.sku, cached.category.slug) == (product.sku, product.category.slug)


async def test_the_category_list_read_again_is_a_hit() -> None:
    await category_fixture(name="Tea")
    before = cache.stats()

    first = await catalog.list_categories(VISITOR)
    async with count_queries() as queries:
        second = await catalog.list_categories(VISITOR)

    assert counted_since(before) == (1, 1)
    assert queries == []
    assert [c.name for c in first] == [c.name for c in second] == ["Tea"]


async def test_a_missing_product_is_looked_up_each_time() -> None:
    product = await product_fixture()
    await catalog.delete_product(SYSTEM, product)
    before = cache.stats()

    assert await catalog.get_product(VISITOR, product.id) is None
    assert await catalog.get_product(VISITOR, product.id) is None

    assert counted_since(before) == (0, 2)


# --- Never stale: each write, then the read ---


async def test_a_product_update_is_read_at_once() -> None:
    product = await product_fixture(price="1.00")
    await catalog.get_product(VISITOR, product.id)

    for cents in range(2, 12):
        price = f"{cents}.00"
        await catalog.update_product(SYSTEM, product, {"price": price})
        found = await catalog.get_product_or_404(VISITOR, product.id)
        assert found.price == Decimal(price)


async def test_a_deleted_product_is_gone_at_once() -> None:
    product = await product_fixture()
    await catalog.get_product(VISITOR, product.id)
    await catalog.get_product(VISITOR, product.id)

    await catalog.delete_product(SYSTEM, product)

    assert await catalog.get_product(VISITOR, product.id) is None


async def test_a_renamed_category_shows_at_once_in_its_products_and_the_list() -> None:
    category = await category_fixture(name="Tea")
    product = await product_fixture(category=category)
    await catalog.get_product(VISITOR, product.id)
    await catalog.list_categories(VISITOR)
    await catalog.get_category(VISITOR, category.id)

    await catalog.update_category(SYSTEM, category, {"name": "Teas"})

    found = await catalog.get_product_or_404(VISITOR, product.id)
    assert found.category.name == "Teas"
    assert [c.name for c in await catalog.list_categories(VISITOR)] == ["Teas"]
    assert (await catalog.get_category_or_404(VISITOR, category.id)).name == "Teas"


async def test_a_created_and_a_deleted_category_change_the_list_at_once() -> None:
    await category_fixture(name="Coffee")
    assert [c.name for c in await catalog.list_categories(VISITOR)] == ["Coffee"]

    tea = await catalog.create_category(SYSTEM, {"name": "Tea", "slug": "tea-cache"})
    assert [c.name for c in await catalog.list_categories(VISITOR)] == ["Coffee", "Tea"]

    await catalog.delete_category(SYSTEM, tea)
    assert [c.name for c in await catalog.list_categories(VISITOR)] == ["Coffee"]
    assert await catalog.get_category(VISITOR, tea.id) is None


async def test_a_product_moved_to_another_category_shows_it_at_once() -> None:
    tea, coffee = await category_fixture(name="Tea"), await category_fixture(name="Coffee")
    product = await product_fixture(category=tea)
    await catalog.get_product(VISITOR, product.id)

    await catalog.update_product(SYSTEM, product, {"category_id": coffee.id})

    assert (await catalog.get_product_or_404(VISITOR, product.id)).category.name == "Coffee"


async def test_a_refused_write_leaves_the_cached_value_right() -> None:
    product = await product_fixture(price="3.00")
    await catalog.get_product(VISITOR, product.id)

    with pytest.raises(ValidationError):
        await catalog.update_product(SYSTEM, product, {"price": "-1"})

    assert (await catalog.get_product_or_404(VISITOR, product.id)).price == Decimal("3.00")


async def test_values_expire_after_the_ttl(db: AsyncConnection) -> None:
    product = await product_fixture(name="Before")
    short = cache.Cache("mem://", ttl=0.2, namespace="catalog-ttl")
    await short.start()
    try:
        with cache.running.holding(short):
            await catalog.get_product(VISITOR, product.id)
            # Changed behind the context's back (as no code of ours does): the cache cannot know ...
            await db.execute(text("UPDATE products SET name = 'After' WHERE id = :id"), {"id": product.id})
            assert (await catalog.get_product_or_404(VISITOR, product.id)).name == "Before"
            # ... until the value's TTL runs out.
            await asyncio.sleep(0.4)
            assert (await catalog.get_product_or_404(VISITOR, product.id)).name == "After"
    finally:
        await short.stop()


# --- Writes by other processes (a seed, the console) reach this process's mem:// cache over PubSub ---


async def test_a_write_announced_by_another_process_is_read_soon_after(db: AsyncConnection) -> None:
    product = await product_fixture(name="Before")
    await catalog.get_product(VISITOR, product.id)
    # Another process changed it and announced it (as its catalog functions do after the commit).
    await db.execute(text("UPDATE products SET name = 'After' WHERE id = :id"), {"id": product.id})
    assert (await catalog.get_product_or_404(VISITOR, product.id)).name == "Before"

    await pubsub.broadcast(catalog.PRODUCTS_TOPIC, "product_updated", {"id": str(product.id)})

    async def name() -> str:
        return (await catalog.get_product_or_404(VISITOR, product.id)).name

    deadline = asyncio.get_running_loop().time() + 5
    while await name() != "After":
        assert asyncio.get_running_loop().time() < deadline, "the announced write was never heard"
        await asyncio.sleep(0.01)


async def test_this_process_own_writes_cost_no_second_miss() -> None:
    product = await product_fixture(price="1.00")
    await catalog.update_product(SYSTEM, product, {"price": "2.00"})
    await asyncio.sleep(0.05)  # its announcement has come back by now
    before = cache.stats()

    await catalog.get_product(VISITOR, product.id)
    await asyncio.sleep(0.05)
    await catalog.get_product(VISITOR, product.id)

    assert counted_since(before) == (1, 1)
