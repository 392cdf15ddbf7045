"""The Catalog context's export: every product, oldest first, through a server-side cursor; admins only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import catalog
from my_app.accounts import Scope
from my_app.errors import ForbiddenError
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.fixtures.catalog import category_fixture, product_fixture

pytestmark = pytest.mark.usefixtures("db")


async def test_streams_every_product_with_its_category_oldest_first(db: AsyncConnection) -> None:
    tea = await category_fixture(name="Tea")
    products = [await product_fixture(category=tea, name=f"Tea {n}") for n in range(5)]
    oldest = products[3]
    await db.execute(
        text("UPDATE products SET inserted_at = inserted_at - :by WHERE id = :id"),
        {"by": timedelta(minutes=5), "id": oldest.id},
    )
    # The rest share the test transaction's now(): their id orders them.
    expected = [oldest.id, *sorted(p.id for p in products if p is not oldest)]

    streamed = [(product.id, product.category.slug) async for product in catalog.stream_products(SYSTEM, batch_size=2)]

    assert streamed == [(product_id, tea.slug) for product_id in expected]


async def test_reads_through_a_server_side_cursor_in_batches(db: AsyncConnection) -> None:
    category = await category_fixture()
    for _ in range(5):
        await product_fixture(category=category)
    cursors: list[int] = []

    async for _product in catalog.stream_products(SYSTEM, batch_size=2):
        # The session reads on the test's connection: its open cursors are visible here.
        cursors.append(len((await db.execute(text("SELECT name FROM pg_cursors"))).all()))

    # Fetched 2, 2, then 1 row: the short last batch tells the cursor is exhausted, and it is closed
    # before its row is handed out. Nothing stays open afterwards.
    assert cursors == [1, 1, 1, 1, 0]
    assert (await db.execute(text("SELECT count(*) FROM pg_cursors"))).scalar_one() == 0


async def test_an_empty_catalog_streams_nothing() -> None:
    assert [product async for product in catalog.stream_products(SYSTEM)] == []


async def test_admins_only_refused_when_called() -> None:
    await product_fixture()
    admin = await user_fixture(role="admin")

    assert len([p async for p in catalog.stream_products(Scope.for_user(admin))]) == 1
    for scope in (Scope.for_user(await user_fixture()), Scope.for_user(None)):
        with pytest.raises(ForbiddenError):
            catalog.stream_products(scope)  # at once: before anything is read
