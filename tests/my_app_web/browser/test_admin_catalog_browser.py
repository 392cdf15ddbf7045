"""The admin catalog pages in Chromium: a product created through the New Product modal (after a
validation error shown as you type) appears in another admin's window without a reload; a category
created through its modal, and one that still has products refused deletion with a message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import BrowserContext, Dialog, Page, expect
from sqlalchemy import text

from my_app import application, catalog, repo
from tests.support.browser import BrowserUser, log_in, screenshot
from tests.support.fixtures.accounts import SYSTEM

# "Within a second" on a quiet machine; the bound leaves room for a busy CI runner.
LIVE_WITHIN_MS = 3_000


async def truncate_catalog() -> None:
    async with repo.engine().begin() as connection:
        await connection.execute(text("TRUNCATE products, categories CASCADE"))


@pytest.fixture
async def tea(started_app: application.Application, app_server: str) -> AsyncIterator[catalog.Category]:
    """A committed category (the server is another process); the catalog is empty before and after."""
    await truncate_catalog()
    try:
        yield await catalog.create_category(SYSTEM, {"name": "Tea", "slug": "tea"})
    finally:
        await truncate_catalog()


async def wait_until_live(page: Page) -> None:
    """Until the page's live stream is open (htmx's SSE extension keeps its EventSource on the element)."""
    await page.wait_for_function(
        "() => { const el = document.querySelector('[sse-connect]');"
        " const data = el && el['htmx-internal-data'];"
        " return !!(data && data.sseEventSource && data.sseEventSource.readyState === 1) }"
    )


async def admin_page(context: BrowserContext, admin: BrowserUser, path: str) -> Page:
    page = await context.new_page()
    await log_in(page, admin.email, admin.password)
    await page.goto(path)
    await wait_until_live(page)
    return page


async def test_a_product_created_in_the_modal_appears_in_another_admins_window(
    new_context: Callable[..., Awaitable[BrowserContext]],
    admin_user: BrowserUser,
    make_user: Callable[..., Awaitable[BrowserUser]],
    tea: catalog.Category,
) -> None:
    other_admin = await make_user(role="admin", name="Other Admin")
    first = await admin_page(await new_context(), admin_user, "/admin/products")
    second = await admin_page(await new_context(), other_admin, "/admin/products")
    await second.evaluate("() => { window.notReloaded = true }")  # gone if the page reloads
    await expect(first.get_by_role("heading", name="Listing Products")).to_be_visible()
    await expect(
        first.get_by_role("navigation", name="Administration").get_by_role("link", name="Products")
    ).to_have_attribute("aria-current", "page")

    await first.get_by_role("link", name="New Product").click()
    dialog = first.get_by_role("dialog", name="New Product")
    await expect(dialog).to_be_visible()
    await expect(first).to_have_url("/admin/products/new")
    await first.locator("#product_name").fill("Gyokuro")
    await first.locator("#product_sku").fill("TEA-GYO-1")
    await first.locator("#product_category_id").select_option(label="Tea")
    await first.locator("#product_price").press_sequentially("-12.50")
    await expect(first.locator("#product_price-error")).to_have_text("must be greater than or equal to 0")
    await expect(first.locator("#product_price")).to_have_attribute("aria-invalid", "true")
    await expect(first.locator("#product_name-error")).to_be_empty()
    await screenshot(first, "admin-products-new-modal")

    await first.locator("#product_price").fill("12.50")
    await expect(first.locator("#product_price-error")).to_be_empty()
    await first.locator("#product_stock").fill("40")
    await dialog.get_by_role("button", name="Save Product").click()

    await expect(first.locator("#flash-group")).to_contain_text("Product created successfully")
    await expect(first.get_by_role("dialog")).to_have_count(0)
    await expect(first).to_have_url("/admin/products")
    for page in (first, second):
        row = page.locator("#products tr", has_text="Gyokuro")
        await expect(row).to_be_visible(timeout=LIVE_WITHIN_MS)
        await expect(row).to_contain_text("TEA-GYO-1")
        await expect(row).to_contain_text("Tea")
        await expect(row).to_contain_text("12.50")
        await expect(page.locator("#products tr")).to_have_count(1)  # the stream's insert did not add a second
    assert await second.evaluate("() => window.notReloaded === true")
    await screenshot(first, "admin-products-index")

    await first.goto("/admin/products?locale=de")  # German, prices in its format
    await expect(first.get_by_role("heading", name="Produktliste")).to_be_visible()
    await expect(first.locator("#products tr", has_text="Gyokuro")).to_contain_text("12,50")
    await first.get_by_role("link", name="Gyokuro bearbeiten").click()
    await expect(first.get_by_role("dialog", name="Produkt bearbeiten")).to_be_visible()
    await screenshot(first, "admin-products-edit-modal-de")


async def test_categories_are_created_in_the_modal_and_one_with_products_is_not_deleted(
    page: Page, admin_user: BrowserUser, tea: catalog.Category
) -> None:
    await catalog.create_product(
        SYSTEM, {"name": "Sencha", "sku": "TEA-SEN-1", "price": "8.00", "category_id": str(tea.id)}
    )
    await log_in(page, admin_user.email, admin_user.password)
    await page.goto("/admin/categories")
    await expect(page.get_by_role("heading", name="Listing Categories")).to_be_visible()

    await page.get_by_role("link", name="New Category").click()
    dialog = page.get_by_role("dialog", name="New Category")
    await expect(dialog).to_be_visible()
    await page.locator("#category_name").fill("Coffee")
    await page.locator("#category_slug").press_sequentially("Coffee Beans")
    await expect(page.locator("#category_slug-error")).to_have_text("has invalid format")
    await screenshot(page, "admin-categories-new-modal")
    await page.locator("#category_slug").fill("coffee")
    await expect(page.locator("#category_slug-error")).to_be_empty()
    await dialog.get_by_role("button", name="Save Category").click()
    await expect(page.locator("#flash-group")).to_contain_text("Category created successfully")
    await expect(page.locator("#categories tr", has_text="Coffee")).to_be_visible()
    await screenshot(page, "admin-categories-index")

    async def accept(question: Dialog) -> None:
        await question.accept()

    page.on("dialog", accept)
    await page.get_by_role("button", name="Delete Tea").click()
    await expect(page.locator("#flash-group")).to_contain_text("This category still has products.")
    await expect(page.locator(f"#categories-{tea.id}")).to_be_visible()
    assert await catalog.get_category(SYSTEM, tea.id) is not None
