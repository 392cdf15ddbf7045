"""Live user management in Chromium: the New User modal validates as you type, every open /users page
shows users created and deleted elsewhere (the JSON API) without a reload, the show page follows its
user, and the whole thing works without JavaScript."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from playwright.async_api import BrowserContext, Dialog, Page, expect

from tests.support.browser import BrowserUser, log_in, screenshot

# "Within a second" on a quiet machine; the bound leaves room for a busy CI runner.
LIVE_WITHIN_MS = 3_000


async def wait_until_live(page: Page) -> None:
    """Until the page's live stream is open (htmx's SSE extension keeps its EventSource on the element)."""
    await page.wait_for_function(
        "() => { const el = document.querySelector('[sse-connect]');"
        " const data = el && el['htmx-internal-data'];"
        " return !!(data && data.sseEventSource && data.sseEventSource.readyState === 1) }"
    )


@pytest.fixture
async def api(app_server: str, admin_user: BrowserUser) -> AsyncIterator[httpx.AsyncClient]:
    """The JSON API as the admin (a bearer token from POST /api/sessions)."""
    async with httpx.AsyncClient(base_url=app_server) as client:
        session = await client.post("/api/sessions", json={"email": admin_user.email, "password": admin_user.password})
        assert session.status_code == 201, session.text
        client.headers["authorization"] = f"Bearer {session.json()['data']['token']}"
        yield client


async def admin_page(context: BrowserContext, admin: BrowserUser, path: str = "/users") -> Page:
    page = await context.new_page()
    await log_in(page, admin.email, admin.password)
    await page.goto(path)
    return page


def accept_dialogs(page: Page) -> None:
    """Answer "OK" to the page's confirm() questions ("Delete ...? This cannot be undone.")."""

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)


async def test_admin_creates_a_user_seeing_a_validation_error_before_submitting(
    page: Page, admin_user: BrowserUser
) -> None:
    await log_in(page, admin_user.email, admin_user.password)
    await page.goto("/users")
    await expect(page.get_by_role("heading", name="Listing Users")).to_be_visible()
    await expect(page.locator("#users tr")).to_have_count(1)
    await screenshot(page, "users-index")

    await page.get_by_role("link", name="New User").click()
    dialog = page.get_by_role("dialog", name="New User")
    await expect(dialog).to_be_visible()
    await expect(page).to_have_url("/users/new")
    await expect(page.locator("#user_email")).to_be_focused()

    await page.locator("#user_email").press_sequentially("not-an-email")
    await expect(page.locator("#user_email-error")).to_have_text("must be a valid email")
    await expect(page.locator("#user_email")).to_have_attribute("aria-invalid", "true")
    # Only the field typed in shows its error: the name, untouched, does not say "can't be blank" yet.
    await expect(page.locator("#user_name-error")).to_be_empty()
    await screenshot(page, "users-new-modal")

    await page.locator("#user_email").fill("grace@example.com")
    await expect(page.locator("#user_email-error")).to_be_empty()
    await page.locator("#user_name").fill("Grace Hopper")
    await page.locator("#user_role").select_option("admin")
    await dialog.get_by_role("button", name="Save User").click()

    await expect(page.locator("#flash-group")).to_contain_text("User created successfully")
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await expect(page).to_have_url("/users")
    row = page.locator("#users tr", has_text="grace@example.com")
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("Grace Hopper")
    await expect(row).to_contain_text("Admin")
    await expect(page.locator("#users tr")).to_have_count(2)  # the stream's insert did not add a second


async def test_a_refused_save_keeps_the_modal_open_with_the_errors(page: Page, admin_user: BrowserUser) -> None:
    await log_in(page, admin_user.email, admin_user.password)
    await page.goto("/users/new")
    await page.locator("#user_email").fill(admin_user.email)  # taken: only the save can tell
    await page.locator("#user_name").fill("Copy")
    await page.get_by_role("button", name="Save User").click()

    await expect(page.locator("#user_email-error")).to_have_text("has already been taken")
    await expect(page.get_by_role("dialog", name="New User")).to_be_visible()
    await expect(page.locator("#user_name")).to_have_value("Copy")
    # Once the answer has settled, focus is on the first field in error (and the modal hears Escape).
    await expect(page.locator("#user_email")).to_be_focused()

    await page.keyboard.press("Escape")  # closes the modal, back on the list
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await expect(page).to_have_url("/users")


async def test_every_open_list_shows_users_created_and_deleted_through_the_api(
    new_context: Callable[..., Awaitable[BrowserContext]], admin_user: BrowserUser, api: httpx.AsyncClient
) -> None:
    first = await admin_page(await new_context(), admin_user)
    second = await admin_page(await new_context(), admin_user)
    for page in (first, second):
        await wait_until_live(page)

    created = await api.post("/api/users", json={"user": {"email": "api-made@example.com", "name": "From The API"}})
    assert created.status_code == 201, created.text
    user_id = created.json()["data"]["id"]
    for page in (first, second):
        await expect(page.locator(f"#users-{user_id}")).to_contain_text("From The API", timeout=LIVE_WITHIN_MS)

    renamed = await api.patch(f"/api/users/{user_id}", json={"user": {"name": "Renamed Elsewhere"}})
    assert renamed.status_code == 200, renamed.text
    for page in (first, second):
        await expect(page.locator(f"#users-{user_id}")).to_contain_text("Renamed Elsewhere", timeout=LIVE_WITHIN_MS)

    deleted = await api.delete(f"/api/users/{user_id}")
    assert deleted.status_code == 204
    for page in (first, second):
        await expect(page.locator(f"#users-{user_id}")).to_have_count(0, timeout=LIVE_WITHIN_MS)


async def test_deleting_in_one_window_removes_the_row_in_the_other(
    new_context: Callable[..., Awaitable[BrowserContext]],
    admin_user: BrowserUser,
    make_user: Callable[..., Awaitable[BrowserUser]],
) -> None:
    doomed = await make_user(name="Doomed User")
    first = await admin_page(await new_context(), admin_user)
    second = await admin_page(await new_context(), admin_user)
    await wait_until_live(second)
    accept_dialogs(first)

    await first.get_by_role("button", name=f"Delete {doomed.email}").click()

    await expect(first.locator("#flash-group")).to_contain_text("User deleted successfully")
    for page in (first, second):
        await expect(page.locator(f"#users-{doomed.user.id}")).to_have_count(0, timeout=LIVE_WITHIN_MS)


async def test_the_show_page_follows_its_user(
    page: Page, admin_user: BrowserUser, make_user: Callable[..., Awaitable[BrowserUser]], api: httpx.AsyncClient
) -> None:
    shown = await make_user(name="Shown User")
    await log_in(page, admin_user.email, admin_user.password)
    await page.goto("/users")
    await page.get_by_role("link", name=shown.email, exact=True).click()  # the email opens the user's page
    await expect(page).to_have_url(f"/users/{shown.user.id}")
    await expect(page.get_by_role("heading", name="Shown User")).to_be_visible()
    await screenshot(page, "users-show")

    # Edit from the show page: the modal over it, and back to it after saving.
    await page.get_by_role("link", name="Edit").click()
    await expect(page.get_by_role("dialog", name="Edit User")).to_be_visible()
    await page.locator("#user_name").fill("Edited Here")
    await page.get_by_role("button", name="Save User").click()
    await expect(page.locator("#flash-group")).to_contain_text("User updated successfully")
    await expect(page).to_have_url(f"/users/{shown.user.id}")
    await expect(page.get_by_role("heading", name="Edited Here")).to_be_visible()

    await wait_until_live(page)
    await api.patch(f"/api/users/{shown.user.id}", json={"user": {"name": "Changed Elsewhere"}})
    await expect(page.get_by_role("heading", name="Changed Elsewhere")).to_be_visible(timeout=LIVE_WITHIN_MS)
    await expect(page.get_by_role("status").filter(has_text="This user was just changed")).to_be_visible()

    await api.delete(f"/api/users/{shown.user.id}")
    await expect(page.get_by_text("This user has been deleted.")).to_be_visible(timeout=LIVE_WITHIN_MS)
    await expect(page).to_have_url("/users", timeout=5_000)
    await expect(page.locator("#flash-group")).to_contain_text("That user no longer exists.")
    await expect(page.get_by_role("heading", name="Listing Users")).to_be_visible()


async def test_users_work_without_javascript(
    new_context: Callable[..., Awaitable[BrowserContext]], admin_user: BrowserUser
) -> None:
    page = await admin_page(await new_context(java_script_enabled=False), admin_user)
    await expect(page.get_by_role("heading", name="Listing Users")).to_be_visible()
    await expect(page.locator(f"#users-{admin_user.user.id}")).to_be_visible()

    await page.get_by_role("link", name="New User").click()
    await expect(page).to_have_url("/users/new")
    await expect(page.get_by_role("dialog", name="New User")).to_be_visible()
    # The browser checks the email's form itself; a taken one only the server can refuse.
    await page.locator("#user_email").fill(admin_user.email)
    await page.locator("#user_name").fill("Someone")
    await page.get_by_role("button", name="Save User").click()
    await expect(page.locator("#user_email-error")).to_have_text("has already been taken")
    await expect(page.get_by_role("dialog", name="New User")).to_be_visible()

    await page.locator("#user_email").fill("nojs@example.com")
    await page.locator("#user_name").fill("No Script")
    await page.get_by_role("button", name="Save User").click()
    await expect(page).to_have_url("/users")
    await expect(page.locator("#flash-group")).to_contain_text("User created successfully")
    await expect(page.locator("#users tr", has_text="nojs@example.com")).to_be_visible()
    await expect(page.get_by_role("dialog")).to_have_count(0)

    # Without JavaScript there is no "Are you sure?": the button posts its form.
    await page.get_by_role("button", name="Delete nojs@example.com").click()
    await expect(page.locator("#flash-group")).to_contain_text("User deleted successfully")
    await expect(page.locator("#users tr", has_text="nojs@example.com")).to_have_count(0)
