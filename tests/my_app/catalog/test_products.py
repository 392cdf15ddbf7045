"""The Catalog context's products: CRUD, validation, access, filters, search, keyset pages,
constant query counts and broadcasts."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import catalog, pubsub
from my_app.accounts import Scope
from my_app.errors import ForbiddenError, NotFoundError, ValidationError
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.fixtures.catalog import category_fixture, product_fixture, valid_product_attributes
from tests.support.pubsub import broadcast_ids
from tests.support.query_count import count_queries

pytestmark = pytest.mark.usefixtures("db")
VISITOR = Scope.for_user(None)


async def _ids(filters: dict[str, Any]) -> list[uuid.UUID]:
    return [product.id for product in (await catalog.list_products(VISITOR, {"limit": 100, **filters})).items]


async def _age(db: AsyncConnection, product: catalog.Product, minutes: int) -> None:
    """Make the product `minutes` older (a test's rows all share its transaction's now())."""
    await db.execute(
        text("UPDATE products SET inserted_at = inserted_at - :by WHERE id = :id"),
        {"by": timedelta(minutes=minutes), "id": product.id},
    )


# --- Create, read, update, delete ---


async def test_create_product_with_valid_data() -> None:
    category = await category_fixture(name="Tea")
    product = await catalog.create_product(
        SYSTEM, valid_product_attributes(category.id, name="Green tea", price="4.5", stock="3")
    )
    assert (product.name, product.price, product.stock) == ("Green tea", Decimal("4.50"), 3)
    assert product.category.name == "Tea"
    found = await catalog.get_product_or_404(VISITOR, str(product.id))
    assert (found.sku, found.price, found.category.id) == (product.sku, Decimal("4.50"), category.id)


async def test_stock_defaults_to_zero_and_price_may_be_a_number() -> None:
    category = await category_fixture()
    attrs = valid_product_attributes(category.id, price=12)
    del attrs["stock"]
    product = await catalog.create_product(SYSTEM, attrs)
    assert (product.stock, product.price) == (0, Decimal("12.00"))


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"price": "-0.01"}, {"price": ["must be greater than or equal to 0"]}),
        ({"price": "abc"}, {"price": ["is invalid"]}),
        ({"price": "NaN"}, {"price": ["is invalid"]}),
        ({"price": True}, {"price": ["is invalid"]}),
        ({"price": "1.001"}, {"price": ["must have at most 2 decimal places"]}),
        ({"price": "10000000000"}, {"price": ["must be less than 10000000000"]}),
        ({"stock": -1}, {"stock": ["must be greater than or equal to 0"]}),
        ({"stock": "many"}, {"stock": ["is invalid"]}),
        ({"stock": 1.5}, {"stock": ["is invalid"]}),
        ({"name": " "}, {"name": ["can't be blank"]}),
        ({"sku": None, "price": None}, {"price": ["can't be blank"], "sku": ["can't be blank"]}),
        ({"category_id": "nope"}, {"category_id": ["is invalid"]}),
        ({"category_id": str(uuid.uuid4())}, {"category_id": ["does not exist"]}),
    ],
)
async def test_create_product_refuses_invalid_data(overrides: dict[str, Any], errors: dict[str, list[str]]) -> None:
    category = await category_fixture()
    with pytest.raises(ValidationError) as raised:
        await catalog.create_product(SYSTEM, valid_product_attributes(category.id, **overrides))
    assert raised.value.errors == errors
    assert await _ids({}) == []


async def test_sku_is_unique() -> None:
    product = await product_fixture()
    with pytest.raises(ValidationError) as raised:
        await catalog.create_product(SYSTEM, valid_product_attributes(product.category_id, sku=product.sku))
    assert raised.value.errors == {"sku": ["has already been taken"]}
    other = await product_fixture()
    with pytest.raises(ValidationError) as raised:
        await catalog.update_product(SYSTEM, other, {"sku": product.sku})
    assert raised.value.errors == {"sku": ["has already been taken"]}


async def test_update_product() -> None:
    product = await product_fixture()
    other = await category_fixture(name="Other")
    updated = await catalog.update_product(
        SYSTEM, product, {"price": "0", "stock": 7, "description": "", "category_id": str(other.id)}
    )
    assert (updated.price, updated.stock, updated.description) == (Decimal("0.00"), 7, None)
    assert updated.category.name == "Other"
    assert updated.name == product.name
    for attrs, errors in [
        ({"price": "-5"}, {"price": ["must be greater than or equal to 0"]}),
        ({"name": ""}, {"name": ["can't be blank"]}),
        ({"stock": None}, {"stock": ["can't be blank"]}),
    ]:
        with pytest.raises(ValidationError) as raised:
            await catalog.update_product(SYSTEM, product, attrs)
        assert raised.value.errors == errors
    assert (await catalog.get_product_or_404(SYSTEM, product.id)).price == Decimal("0.00")


async def test_delete_product() -> None:
    product = await product_fixture()
    await catalog.delete_product(SYSTEM, product)
    assert await catalog.get_product(VISITOR, product.id) is None
    with pytest.raises(NotFoundError):
        await catalog.get_product_or_404(VISITOR, product.id)
    with pytest.raises(NotFoundError):
        await catalog.get_product_or_404(VISITOR, "not-an-id")


async def test_only_admins_write_and_anyone_reads() -> None:
    product = await product_fixture()
    user_scope = Scope.for_user(await user_fixture())
    for scope in (user_scope, VISITOR):
        with pytest.raises(ForbiddenError):
            await catalog.create_product(scope, valid_product_attributes(product.category_id))
        with pytest.raises(ForbiddenError):
            await catalog.update_product(scope, product, {"price": "1"})
        with pytest.raises(ForbiddenError):
            await catalog.delete_product(scope, product)
        assert [p.id for p in (await catalog.list_products(scope)).items] == [product.id]
        assert (await catalog.get_product_or_404(scope, product.id)).price == Decimal("19.99")
    admin_scope = Scope.for_user(await user_fixture(role="admin"))
    assert (await catalog.update_product(admin_scope, product, {"price": "1"})).price == Decimal("1.00")


def test_change_product() -> None:
    assert catalog.change_product(None, {"price": "-1"}).errors["price"] == ["must be greater than or equal to 0"]


# --- Filters, search, sorting ---


async def test_filter_by_category_and_price_range() -> None:
    tea, coffee = await category_fixture(), await category_fixture()
    cheap = await product_fixture(category=tea, price="2.00")
    middle = await product_fixture(category=tea, price="5.00")
    dear = await product_fixture(category=coffee, price="9.99")

    assert set(await _ids({"category_id": str(tea.id)})) == {cheap.id, middle.id}
    assert set(await _ids({"min_price": "5"})) == {middle.id, dear.id}
    assert set(await _ids({"max_price": "5.00"})) == {cheap.id, middle.id}
    assert await _ids({"min_price": "3", "max_price": "6", "category_id": tea.id}) == [middle.id]
    assert await _ids({"category_id": str(uuid.uuid4())}) == []


@pytest.mark.parametrize(
    ("filters", "errors"),
    [
        ({"min_price": "abc"}, {"min_price": ["is invalid"]}),
        ({"category_id": "nope"}, {"category_id": ["is invalid"]}),
        ({"sort": "random"}, {"sort": ["is invalid"]}),
        ({"limit": 101}, {"limit": ["must be between 1 and 100"]}),
        ({"cursor": "garbage"}, {"cursor": ["is invalid"]}),
    ],
)
async def test_bad_filters_are_validation_errors(filters: dict[str, Any], errors: dict[str, list[str]]) -> None:
    with pytest.raises(ValidationError) as raised:
        await catalog.list_products(VISITOR, filters)
    assert raised.value.errors == errors


async def test_full_text_search_on_name_and_description() -> None:
    category = await category_fixture()
    green = await product_fixture(category=category, name="Green tea", description="Sencha from Shizuoka")
    black = await product_fixture(category=category, name="Black tea", description="Assam, strong")
    await product_fixture(category=category, name="Espresso beans", description="Dark roast")

    assert set(await _ids({"q": "tea"})) == {green.id, black.id}
    assert await _ids({"q": "SHIZUOKA"}) == [green.id]
    assert await _ids({"q": "tea -assam"}) == [green.id]
    assert await _ids({"q": '"black tea"'}) == [black.id]
    assert await _ids({"q": "tea", "max_price": "1"}) == []
    assert await _ids({"q": "&|!:*()"}) == []  # tsquery syntax is not an error
    assert await _ids({"q": "shiz:* & !"}) == []  # ...nor is it passed through as syntax


async def test_plain_words_match_as_prefixes_for_search_as_you_type() -> None:
    category = await category_fixture()
    oolong = await product_fixture(category=category, name="Green Oolong", description="Tie Guan Yin")
    await product_fixture(category=category, name="Gravel", description="Not a tea")

    assert await _ids({"q": "oolo"}) == [oolong.id]
    assert await _ids({"q": "gre ool"}) == [oolong.id]
    assert await _ids({"q": "  GREEN   tie  "}) == [oolong.id]
    assert await _ids({"q": "oolong or gravel"}) != []  # `or` is websearch's: whole words, either one
    assert await _ids({"q": "gre -oolong"}) == []  # `-word` is websearch's too: whole words only


async def test_sorts(db: AsyncConnection) -> None:
    category = await category_fixture()
    old = await product_fixture(category=category, price="5.00")
    new = await product_fixture(category=category, price="1.00")
    mid = await product_fixture(category=category, price="5.00")
    await _age(db, old, 20)
    await _age(db, mid, 10)

    assert await _ids({}) == [new.id, mid.id, old.id]
    assert await _ids({"sort": "oldest"}) == [old.id, mid.id, new.id]
    assert (await _ids({"sort": "price_asc"}))[0] == new.id
    assert (await _ids({"sort": "price_desc"}))[2] == new.id


# --- Keyset pages ---


async def _walk(filters: dict[str, Any], *, insert_between: bool = False) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    for _ in range(20):
        page = await catalog.list_products(VISITOR, {**filters, "limit": 3, "cursor": cursor})
        assert len(page.items) <= 3
        seen += [product.id for product in page.items]
        if insert_between:
            await product_fixture(price="5.00")
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("pagination does not end")


@pytest.mark.parametrize("sort", catalog.SORTS)
async def test_pages_never_repeat_or_skip_under_inserts(db: AsyncConnection, sort: str) -> None:
    category = await category_fixture()
    products = [await product_fixture(category=category, price=["5.00", "3.00"][i % 2]) for i in range(10)]
    for minutes, product in enumerate(products):
        await _age(db, product, minutes)  # distinct timestamps, and ties on price
    expected = await _ids({"sort": sort, "category_id": category.id})

    assert await _walk({"sort": sort, "category_id": category.id}) == expected
    seen = await _walk({"sort": sort}, insert_between=True)
    assert len(seen) == len(set(seen))
    assert [product_id for product_id in seen if product_id in set(expected)] == expected


async def test_a_cursor_belongs_to_its_sort() -> None:
    category = await category_fixture()
    for _ in range(3):
        await product_fixture(category=category)
    page = await catalog.list_products(VISITOR, {"limit": 1})
    assert page.next_cursor is not None
    with pytest.raises(ValidationError) as raised:
        await catalog.list_products(VISITOR, {"sort": "price_asc", "cursor": page.next_cursor})
    assert raised.value.errors == {"cursor": ["is invalid"]}


async def test_listing_runs_the_same_statements_for_5_or_50_products() -> None:
    categories = [await category_fixture() for _ in range(5)]

    async def statements(count: int) -> int:
        for index in range(count):
            await product_fixture(category=categories[index % 5])
        async with count_queries() as queries:
            page = await catalog.list_products(VISITOR, {"limit": 100})
            names = [product.category.name for product in page.items]  # rendered: already loaded
        assert len(names) >= count
        return len(queries)

    assert await statements(5) == await statements(45) == 1


# --- Broadcasts ---


async def test_writes_are_announced_after_they_commit() -> None:
    category = await category_fixture()
    with pubsub.subscribe(catalog.PRODUCTS_TOPIC) as subscription:
        product = await product_fixture(category=category)
        await catalog.update_product(SYSTEM, product, {"stock": 1})
        with pytest.raises(ValidationError):
            await catalog.update_product(SYSTEM, product, {"price": "-1"})
        with pytest.raises(ValidationError):
            await catalog.create_product(SYSTEM, valid_product_attributes(category.id, sku=product.sku))
        await catalog.delete_product(SYSTEM, product)
        assert await broadcast_ids(subscription) == [
            ("product_created", str(product.id)),
            ("product_updated", str(product.id)),
            ("product_deleted", str(product.id)),
        ]


async def test_text_search_can_use_the_gin_index(db: AsyncConnection) -> None:
    """The query's document expression is the index's, so PostgreSQL can use the GIN index."""
    await db.execute(text("SET LOCAL enable_seqscan = off"))
    document = catalog.product.SEARCH_VECTOR.name
    query = f"EXPLAIN SELECT id FROM products WHERE {document} @@ websearch_to_tsquery('simple', 'tea')"  # noqa: S608
    plan = await db.execute(text(query))
    assert "products_search_index" in "\n".join(row[0] for row in plan)
