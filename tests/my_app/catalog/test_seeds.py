"""The catalog's demo data: a few categories and ~50 products, created once."""

from __future__ import annotations

import pytest

from my_app import catalog
from my_app.config import Settings
from my_app.priv import seeds
from tests.support.fixtures.accounts import SYSTEM

pytestmark = pytest.mark.usefixtures("db")


async def test_seed_catalog_creates_categories_and_products_once(settings: Settings) -> None:
    first = await seeds.seed_catalog(settings)
    products = (await catalog.list_products(SYSTEM, {"limit": 100})).items

    assert await seeds.seed_catalog(settings) == []
    assert len(first) == len(seeds.DEMO_CATEGORIES)
    assert {c.slug for c in await catalog.list_categories(SYSTEM)} == {slug for slug, *_ in seeds.DEMO_CATEGORIES}
    assert 40 <= len(products) <= 60
    assert len((await catalog.list_products(SYSTEM, {"limit": 100})).items) == len(products)
    assert (await catalog.list_products(SYSTEM, {"q": "sencha"})).items
    tea = await catalog.get_category_by_slug(SYSTEM, "tea")
    assert tea is not None
    assert await catalog.get_product_by_sku(SYSTEM, "TEA-001-S") is not None
