"""The Catalog context's categories: CRUD, validation, uniqueness, access and broadcasts."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import catalog, pubsub
from my_app.accounts import Scope
from my_app.errors import ForbiddenError, NotFoundError, ValidationError
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.fixtures.catalog import category_fixture, product_fixture, unique_slug, valid_category_attributes
from tests.support.pubsub import broadcast_ids
from tests.support.query_count import count_queries

pytestmark = pytest.mark.usefixtures("db")
VISITOR = Scope.for_user(None)


async def test_create_category_with_valid_data() -> None:
    slug = unique_slug()
    category = await catalog.create_category(SYSTEM, {"name": " Books ", "slug": slug, "description": "Paper"})
    assert (category.name, category.slug, category.description) == ("Books", slug, "Paper")
    assert category.inserted_at is not None
    found = await catalog.get_category(VISITOR, category.id)
    assert found is not None
    assert (found.id, found.name) == (category.id, "Books")


@pytest.mark.parametrize(
    ("attrs", "errors"),
    [
        ({}, {"name": ["can't be blank"], "slug": ["can't be blank"]}),
        ({"name": "  ", "slug": "ok"}, {"name": ["can't be blank"]}),
        ({"name": "A", "slug": "Not A Slug"}, {"slug": ["has invalid format"]}),
        ({"name": "x" * 121, "slug": "ok"}, {"name": ["should be at most 120 character(s)"]}),
    ],
)
async def test_create_category_refuses_invalid_data(attrs: dict[str, str], errors: dict[str, list[str]]) -> None:
    with pytest.raises(ValidationError) as raised:
        await catalog.create_category(SYSTEM, attrs)
    assert raised.value.errors == errors
    assert await catalog.list_categories(SYSTEM) == []


async def test_name_is_unique_in_any_letter_case() -> None:
    await category_fixture(name="Books")
    with pytest.raises(ValidationError) as raised:
        await catalog.create_category(SYSTEM, valid_category_attributes(name="BOOKS"))
    assert raised.value.errors == {"name": ["has already been taken"]}


async def test_slug_is_unique() -> None:
    first = await category_fixture()
    with pytest.raises(ValidationError) as raised:
        await catalog.create_category(SYSTEM, valid_category_attributes(slug=first.slug))
    assert raised.value.errors == {"slug": ["has already been taken"]}
    other = await category_fixture()
    with pytest.raises(ValidationError) as raised:
        await catalog.update_category(SYSTEM, other, {"slug": first.slug})
    assert raised.value.errors == {"slug": ["has already been taken"]}


async def test_list_categories_by_name_for_anyone() -> None:
    b = await category_fixture(name="beta")
    a = await category_fixture(name="Alpha")
    assert [c.id for c in await catalog.list_categories(VISITOR)] == [a.id, b.id]


async def test_list_categories_with_product_counts_in_one_statement() -> None:
    tea = await category_fixture(name="Tea")
    empty = await category_fixture(name="Empty")
    for _ in range(3):
        await product_fixture(category=tea)

    async with count_queries() as statements:
        categories = await catalog.list_categories_with_product_counts(VISITOR)

    assert [(c.id, c.product_count) for c in categories if c.id in {tea.id, empty.id}] == [(empty.id, 0), (tea.id, 3)]
    assert len(statements) == 1


async def test_get_category_or_404() -> None:
    category = await category_fixture()
    assert (await catalog.get_category_or_404(VISITOR, str(category.id))).id == category.id
    with pytest.raises(NotFoundError):
        await catalog.get_category_or_404(VISITOR, uuid.uuid4())
    with pytest.raises(NotFoundError):
        await catalog.get_category_or_404(VISITOR, "not-an-id")
    assert await catalog.get_category(VISITOR, "not-an-id") is None


async def test_update_category() -> None:
    category = await category_fixture()
    updated = await catalog.update_category(SYSTEM, category, {"name": "Renamed", "description": ""})
    assert (updated.name, updated.description, updated.slug) == ("Renamed", None, category.slug)
    with pytest.raises(ValidationError) as raised:
        await catalog.update_category(SYSTEM, category, {"name": ""})
    assert raised.value.errors == {"name": ["can't be blank"]}


async def test_delete_category() -> None:
    category = await category_fixture()
    assert (await catalog.delete_category(SYSTEM, category)).id == category.id
    assert await catalog.get_category(SYSTEM, category.id) is None
    with pytest.raises(NotFoundError):
        await catalog.delete_category(SYSTEM, category)


async def test_a_category_with_products_cannot_be_deleted() -> None:
    """ON DELETE RESTRICT: no product is ever left without its category."""
    product = await product_fixture()
    category = await catalog.get_category_or_404(SYSTEM, product.category_id)
    with pytest.raises(ValidationError) as raised:
        await catalog.delete_category(SYSTEM, category)
    assert raised.value.errors == {"products": ["are still associated with this entry"]}
    assert await catalog.get_category(SYSTEM, category.id) is not None
    await catalog.delete_product(SYSTEM, product)
    await catalog.delete_category(SYSTEM, category)


async def test_only_admins_write(db: AsyncConnection) -> None:
    category = await category_fixture()
    user_scope = Scope.for_user(await user_fixture())
    admin_scope = Scope.for_user(await user_fixture(role="admin"))
    for scope in (user_scope, VISITOR):
        with pytest.raises(ForbiddenError):
            await catalog.create_category(scope, valid_category_attributes())
        with pytest.raises(ForbiddenError):
            await catalog.update_category(scope, category, {"name": "Mine"})
        with pytest.raises(ForbiddenError):
            await catalog.delete_category(scope, category)
        assert [c.id for c in await catalog.list_categories(scope)] == [category.id]
    assert (await catalog.update_category(admin_scope, category, {"name": "Admin's"})).name == "Admin's"
    assert (await catalog.get_category_or_404(user_scope, category.id)).name == "Admin's"


def test_change_category() -> None:
    assert catalog.change_category(None, {"name": "A", "slug": "a"}).valid
    assert catalog.change_category(None, {"name": "A"}).errors == {"slug": ["can't be blank"]}


async def test_writes_are_announced_after_they_commit() -> None:
    with pubsub.subscribe(catalog.CATEGORIES_TOPIC) as subscription:
        category = await category_fixture()
        await catalog.update_category(SYSTEM, category, {"name": "Renamed"})
        with pytest.raises(ValidationError):
            await catalog.update_category(SYSTEM, category, {"slug": "Bad Slug"})
        await catalog.delete_category(SYSTEM, category)
        assert await broadcast_ids(subscription) == [
            ("category_created", str(category.id)),
            ("category_updated", str(category.id)),
            ("category_deleted", str(category.id)),
        ]
