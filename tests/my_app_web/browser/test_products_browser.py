"""The public catalog in Chromium: search narrows the list as you type (and the URL follows), "Load
more" grows it, an open product page and an open list show changes made through the catalog
context without a reload, and the filters work without JavaScript."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import text

from my_app import application, catalog, repo
from tests.support.browser import screenshot
from tests.support.fixtures.accounts import SYSTEM

LIVE_WITHIN_MS = 3_000
TEAS = [
    ("Sencha Kagoshima", "Grassy green tea from the south of Japan.", "8.90", 24),
    ("Gyokuro Asahi", "Shaded green tea, sweet and deep.", "29.00", 3),
    ("Milky Oolong", "Half-oxidised, creamy and floral.", "14.50", 0),
    ("Earl Grey Imperial", "Black tea with bergamot oil.", "6.40", 120),
]


async def truncate_catalog() -> None:
    async with repo.engine().begin() as connection:
        await connection.execute(text("TRUNCATE products, categories CASCADE"))


@pytest.fixture
async def shop(started_app: application.Application, app_server: str) -> AsyncIterator[list[catalog.Product]]:
    """A committed demo catalog (the live server reads it): four teas and 26 coffees; emptied afterwards."""
    await truncate_catalog()
    try:
        tea = await catalog.create_category(SYSTEM, {"name": "Tea", "slug": "tea", "description": "Leaves"})
        coffee = await catalog.create_category(SYSTEM, {"name": "Coffee", "slug": "coffee"})
        await catalog.create_category(SYSTEM, {"name": "Teaware", "slug": "teaware"})
        products = []
        for n in range(26):
            attrs = {"name": f"Coffee Blend No. {n + 1}", "description": "Roasted beans.", "price": f"{9 + n}.95"}
            attrs["stock"] = (n * 7) % 40
            products.append(
                await catalog.create_product(SYSTEM, {**attrs, "sku": f"COF-{n}", "category_id": coffee.id})
            )
        for n, (name, description, price, stock) in enumerate(TEAS):
            attrs = {"name": name, "description": description, "price": price, "stock": stock}
            products.append(await catalog.create_product(SYSTEM, {**attrs, "sku": f"TEA-{n}", "category_id": tea.id}))
        yield products
    finally:
        await truncate_catalog()


async def wait_until_live(page: Page) -> None:
    """Until the page's live stream is open (htmx's SSE extension keeps its EventSource on the element)."""
    await page.wait_for_function(
        "() => { const el = document.querySelector('[sse-connect]');"
        " const data = el && el['htmx-internal-data'];"
        " return !!(data && data.sseEventSource && data.sseEventSource.readyState === 1) }"
    )


def by_name(products: list[catalog.Product], name: str) -> catalog.Product:
    return next(product for product in products if product.name == name)


async def test_search_narrows_the_list_as_you_type(page: Page, shop: list[catalog.Product]) -> None:
    await page.goto("/products")
    await expect(page.get_by_role("heading", name="Products", exact=True)).to_be_visible()
    cards = page.locator("#products > li")
    await expect(cards).to_have_count(24)  # one page
    await screenshot(page, "products-index")

    await page.get_by_role("link", name="Load more").click()
    await expect(cards).to_have_count(30)
    await expect(page).to_have_url("/products?limit=48")
    await expect(page.get_by_role("link", name="Load more")).to_have_count(0)

    await page.get_by_label("Search").press_sequentially("oolong", delay=50)
    await expect(cards).to_have_count(1)
    await expect(cards.first).to_contain_text("Milky Oolong")
    await expect(cards.first).to_contain_text("Out of stock")
    await expect(page).to_have_url("/products?q=oolong")
    await expect(page.get_by_label("Search")).to_be_focused()  # typing goes on in the box

    await page.get_by_label("Search").fill("nothing like this")
    await expect(page.get_by_text("No products match your search.")).to_be_visible()
    await screenshot(page, "products-empty")

    # A category chip, then the sort: the list follows, and the live stream with it.
    await page.get_by_label("Search").fill("")
    await expect(cards).to_have_count(24)
    await expect(page).to_have_url("/products")
    await page.get_by_role("link", name="Tea", exact=True).click()
    await expect(cards).to_have_count(4)
    await page.get_by_label("Sort by").select_option("price_asc")
    await expect(cards.first).to_contain_text("Earl Grey Imperial")
    await expect(page).to_have_url("/products?category=tea&sort=price_asc")
    await wait_until_live(page)
    gyokuro = by_name(shop, "Gyokuro Asahi")
    await catalog.update_product(SYSTEM, gyokuro, {"price": "31.00", "stock": 0})
    card = page.locator(f"#products-{gyokuro.id}")
    await expect(card).to_contain_text("€31.00", timeout=LIVE_WITHIN_MS)
    await expect(card).to_contain_text("Out of stock")
    await catalog.delete_product(SYSTEM, gyokuro)
    await expect(card).to_have_count(0, timeout=LIVE_WITHIN_MS)
    await expect(cards).to_have_count(3)


async def test_bad_filters_are_explained(page: Page, shop: list[catalog.Product]) -> None:
    await page.goto("/products?min_price=abc&category=nope&locale=de")
    await expect(page.get_by_role("alert")).to_contain_text("Der Mindestpreis „abc“ ist kein Betrag")
    await expect(page.get_by_role("alert")).to_contain_text("Es gibt keine Kategorie „nope“")
    await expect(page.locator("#products > li")).to_have_count(24)
    await screenshot(page, "products-bad-filters-de")


async def test_an_open_product_page_shows_changes_without_a_reload(page: Page, shop: list[catalog.Product]) -> None:
    sencha = by_name(shop, "Sencha Kagoshima")
    await page.goto("/products?category=tea")
    await page.get_by_role("link", name="Sencha Kagoshima").click()
    await expect(page).to_have_url(f"/products/{sencha.id}")
    await expect(page.get_by_role("heading", name="Sencha Kagoshima")).to_be_visible()
    await expect(page.get_by_text("€8.90")).to_be_visible()
    await screenshot(page, "products-show")

    await wait_until_live(page)
    await catalog.update_product(SYSTEM, sencha, {"name": "Sencha Premium", "price": "9.90"})
    await expect(page.get_by_role("heading", name="Sencha Premium")).to_be_visible(timeout=LIVE_WITHIN_MS)
    await expect(page.get_by_text("€9.90")).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text="This product was just changed")).to_be_visible()

    await catalog.delete_product(SYSTEM, sencha)
    await expect(page.get_by_text("This product has been deleted.")).to_be_visible(timeout=LIVE_WITHIN_MS)
    await expect(page.get_by_role("link", name="Back to products")).to_be_visible()


async def test_the_catalog_works_without_javascript(
    new_context: Callable[..., Awaitable[BrowserContext]], shop: list[catalog.Product]
) -> None:
    page = await (await new_context(java_script_enabled=False)).new_page()
    await page.goto("/products")
    cards = page.locator("#products > li")
    await expect(cards).to_have_count(24)

    await page.get_by_role("link", name="Load more").click()  # the next page, from the cursor
    await expect(cards).to_have_count(6)
    await expect(page).to_have_url(re.compile(r"/products\?cursor=[^&]+$"))

    await page.goto("/products")
    await page.get_by_label("Search").fill("green")
    await page.get_by_label("Max. price").fill("10")
    await page.get_by_role("button", name="Filter").click()
    await expect(cards).to_have_count(1)
    await expect(cards.first).to_contain_text("Sencha Kagoshima")
    await expect(page).to_have_url(re.compile(r"/products\?q=green&min_price=&max_price=10&sort=newest$"))
