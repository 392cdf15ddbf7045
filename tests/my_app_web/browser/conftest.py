"""Fixtures of the real-browser tests (Playwright driving Debian's Chromium; tests/support/browser.py).

    from tests.support.browser import log_in, screenshot

    async def test_admin_sees_users(page: Page, admin_user: BrowserUser) -> None:
        await log_in(page, admin_user.email, admin_user.password)
        await page.goto("/users")
        await expect(page.get_by_role("heading", name="Listing Users")).to_be_visible()
        await screenshot(page, "users-index")

- `browser`: Chromium, one per pytest worker. `app_server`: the live server's base URL (relative
  URLs in `page.goto` go there). `page`: a page in `context`, a fresh context (own cookies);
  `new_context(java_script_enabled=False)` opens more (two users, no JavaScript).
- `committed_user`, `admin_user`: confirmed users with a password (`.email`, `.password`, `.user`);
  `make_user(role="admin", name="Ada")` for more. Every browser test starts and ends with empty
  users and rooms tables.
- `mailbox`: what the server emailed during this test (`await mailbox.last_link(to=..., containing=...)`).
- A CSP violation or an uncaught script error in any page fails the test (`pages.of(page)` lists
  console errors too, for tests that look at them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from my_app import application
from tests.support import browser as support
from tests.support.browser import BrowserUser, LiveApp, Mailbox, Pages
from tests.support.live_server import truncate_chat

if TYPE_CHECKING:  # imported when used: without Playwright the tests skip instead of failing to collect
    from playwright.async_api import Browser, BrowserContext, Page

HERE = Path(__file__).parent
_live_app: LiveApp | None = None


def _is_browser_test(item: pytest.Item | None) -> bool:
    return item is not None and item.path.is_relative_to(HERE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Skipped before any fixture starts (one line saying how to install Chromium); failed under CI=true.
    for item in items:
        if _is_browser_test(item):
            item.add_marker(support.needs_browser())
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # The live server runs only while browser tests follow one another: the next test may use this
    # worker's database on its own (job tests, say) and must not find a job worker beside it.
    if _live_app is not None and not _is_browser_test(nextitem) and _live_app.server is not None:
        _live_app.server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # A failed browser test shows what the live server logged meanwhile (errors, tracebacks).
    report = yield
    failed = report.failed and _live_app is not None and _is_browser_test(item)  # type: ignore[attr-defined]
    if failed and (log := _live_app.log_since_mark().strip()):  # type: ignore[union-attr]
        report.sections.append(("live server log", log[-20_000:]))  # type: ignore[attr-defined]
    return report


@pytest.fixture(scope="session")
def _mailbox_server() -> Iterator[Mailbox]:
    mailbox = Mailbox()
    mailbox.start()
    try:
        yield mailbox
    finally:
        mailbox.stop()


@pytest.fixture(scope="session")
async def live_app(
    _mailbox_server: Mailbox, tmp_path_factory: pytest.TempPathFactory, started_app: application.Application
) -> AsyncIterator[LiveApp]:
    """This worker's live server (started by `app_server` when a test needs it)."""
    global _live_app
    _live_app = LiveApp(log=tmp_path_factory.mktemp("browser") / "server.log", mailbox=_mailbox_server)
    _live_app.start_soon()  # starts while Chromium launches
    try:
        yield _live_app
    finally:
        await _live_app.stop()
        _live_app = None


@pytest.fixture
async def clean_tables(started_app: application.Application) -> AsyncIterator[None]:
    """Users and rooms (and what hangs off them: tokens, memberships) are empty before and after."""
    await truncate_chat()
    try:
        yield
    finally:
        await truncate_chat()


@pytest.fixture
async def app_server(live_app: LiveApp, clean_tables: None) -> str:
    """The live server's base URL, e.g. `http://127.0.0.1:38211`."""
    base_url = await live_app.ensure_started()
    live_app.mark_log()
    return base_url


@pytest.fixture
def mailbox(_mailbox_server: Mailbox, app_server: str) -> Mailbox:
    """The emails the server sends during this test."""
    _mailbox_server.clear()
    return _mailbox_server


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium (headless, no sandbox, no background networking), one per worker."""
    support.require_browser()
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=support.TIMEOUT_MS)  # `expect(...)` waits as long as actions do
    async with async_playwright() as playwright:
        chromium = await support.launch_chromium(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def pages(live_app: LiveApp, browser: Browser, app_server: str) -> AsyncIterator[Pages]:
    """The test's contexts; fails the test if a page reported a CSP violation or an uncaught error."""
    opened = Pages(browser, app_server)
    try:
        yield opened
        assert not opened.csp_violations(), f"Content-Security-Policy violations: {opened.csp_violations()}"
        assert not opened.page_errors(), f"uncaught script errors: {opened.page_errors()}"
    finally:
        await opened.close()


@pytest.fixture
def new_context(pages: Pages) -> Callable[..., Awaitable[BrowserContext]]:
    """Open another context: `await new_context()`, `await new_context(java_script_enabled=False)`."""
    return pages.new_context


@pytest.fixture
async def context(pages: Pages) -> BrowserContext:
    return await pages.new_context()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
def make_user(clean_tables: None) -> Callable[..., Awaitable[BrowserUser]]:
    """`await make_user(role="admin", name="Ada")`: another committed, confirmed user."""

    async def make(**attrs: Any) -> BrowserUser:
        return await support.create_browser_user(**attrs)

    return make


@pytest.fixture
async def committed_user(make_user: Callable[..., Awaitable[BrowserUser]]) -> BrowserUser:
    return await make_user(name="Alice")


@pytest.fixture
async def admin_user(make_user: Callable[..., Awaitable[BrowserUser]]) -> BrowserUser:
    return await make_user(role="admin", name="Admin")
