"""What app.js adds to the components, in Chromium: modal focus and Escape, live validation that
keeps the caret and shows only touched fields' errors, disable-with, confirm, the nav toggle, the
table's empty state after a live delete.

No server process: Playwright hands every request for http://ui.test to the app in this process
(httpx on ASGI), with the app's real headers (CSP included), so a CSP violation shows up here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from my_app.config import Settings
from my_app_web.endpoint import create_app
from my_app_web.templating import templates
from tests.support.browser import launch_chromium, require_browser

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

BASE = "http://ui.test"

PAGE = """{% extends "layouts/root.html" %}
{% from "components/core.html" import header, simple_form, input, button, button_link, table, modal %}
{% macro user_row(user) %}<tr id="users-{{ user.id }}"><td>{{ user.email }}</td><td class="actions">
  {{ button("Delete", type="button", variant="danger", confirm="Delete " ~ user.email ~ "?", disable_with="Deleting...",
            attrs={"hx-post": "/t/delete", "hx-target": "closest tr", "hx-swap": "delete"}) }}</td></tr>{% endmacro %}
{% block content %}
{% call header("Users") %}{{ button_link("/t/new", "New User", attrs={"id": "new-user",
   "hx-get": "/t/new", "hx-target": "#main", "hx-select": "#main", "hx-swap": "outerHTML"}) }}{% endcall %}
{{ table("users", ["Email", ""], users, user_row, empty="No users yet.") }}
{% if show_modal %}
{% call modal("user-modal", show=True, cancel_url="/t", title="New User") %}
  {% call simple_form("/t/save", "user-form", csrf_token, validate="/t/validate", target="#main") %}
    {{ input("email", "Email", type="email", value=email, errors=errors.get("email", [])) }}
    {{ input("name", "Name", errors=errors.get("name", [])) }}
    <div class="form-actions">{{ button("Save", disable_with="Saving...") }}</div>
  {% endcall %}
{% endcall %}
{% endif %}
{% endblock %}"""

VALIDATE = '{% from "components/core.html" import errors_oob %}{{ errors_oob("user", ["email", "name"], errors) }}'


def errors_of(email: str, name: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if "@" not in email:
        errors["email"] = ["must have the @ sign and no spaces"]
    if not name:
        errors["name"] = ["can't be blank"]
    return errors


def page_app(settings: Settings) -> FastAPI:
    app = create_app(settings, start_application=False)
    users = [SimpleNamespace(id=1, email="ada@example.com")]
    admin = SimpleNamespace(email="admin@example.com", role="admin")

    def render(request: Request, status_code: int = 200, **assigns: Any) -> HTMLResponse:
        context = {"request": request, "csrf_token": "t0ken", "current_user": admin, "users": users, "errors": {}}
        html = templates.env.from_string(PAGE).render({**context, "email": "", **assigns})
        return HTMLResponse(html, status_code=status_code)

    async def index(request: Request) -> HTMLResponse:
        return render(request)

    async def new(request: Request) -> HTMLResponse:
        return render(request, show_modal=True)

    async def validate(request: Request) -> HTMLResponse:
        form = await request.form()
        errors = errors_of(str(form.get("email", "")), str(form.get("name", "")))
        return HTMLResponse(templates.env.from_string(VALIDATE).render(errors=errors))

    async def save(request: Request) -> HTMLResponse:
        form = await request.form()
        email = str(form.get("email", ""))
        errors = errors_of(email, str(form.get("name", "")))
        return render(request, 422, show_modal=True, errors=errors, email=email)

    async def delete() -> Response:
        return Response("")

    app.add_api_route("/t", index, methods=["GET"])
    app.add_api_route("/t/new", new, methods=["GET"])
    app.add_api_route("/t/validate", validate, methods=["POST"])
    app.add_api_route("/t/save", save, methods=["POST"])
    app.add_api_route("/t/delete", delete, methods=["POST"])
    return app


@pytest.fixture
async def page(settings: Settings) -> AsyncIterator[Page]:
    require_browser()
    from playwright.async_api import async_playwright

    app = page_app(settings)
    problems: list[str] = []
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
        async_playwright() as playwright,
    ):
        browser = await launch_chromium(playwright)

        async def answer(route: Route) -> None:
            request = route.request
            headers = {key: value for key, value in request.headers.items() if not key.startswith(":")}
            response = await client.request(
                request.method, request.url, headers=headers, content=request.post_data_buffer
            )
            await route.fulfill(status=response.status_code, headers=dict(response.headers), body=response.content)

        context = await browser.new_context(base_url=BASE, viewport={"width": 1200, "height": 800})
        await context.route(f"{BASE}/**", answer)
        opened = await context.new_page()
        opened.on("pageerror", lambda error: problems.append(str(error)))
        opened.on(
            "console",
            lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None,
        )
        try:
            yield opened
        finally:
            await browser.close()
    assert problems == []


async def focused_id(page: Page) -> str:
    return str(await page.evaluate("document.activeElement && document.activeElement.id"))


async def test_a_modal_opened_through_htmx_takes_focus_keeps_tab_inside_and_escape_closes_it(page: Page) -> None:
    from playwright.async_api import expect

    await page.goto("/t")
    await page.focus("#new-user")
    await page.keyboard.press("Enter")

    dialog = page.get_by_role("dialog", name="New User")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#user_email")).to_be_focused()
    for _ in range(6):  # Tab cycles through the dialog's controls, never the page behind it
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.getElementById('user-modal').contains(document.activeElement)")

    await page.keyboard.press("Escape")  # follows the close link to cancel_url

    await expect(page).to_have_url(f"{BASE}/t")
    await expect(page.locator("#user-modal")).to_have_count(0)


async def test_live_validation_shows_only_touched_fields_and_keeps_what_is_typed(page: Page) -> None:
    from playwright.async_api import expect

    await page.goto("/t/new")
    email = page.locator("#user_email")
    await expect(email).to_be_focused()

    await email.press_sequentially("ada", delay=20)

    await expect(page.locator("#user_email-error")).to_have_text("must have the @ sign and no spaces")
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#user_name-error")).to_be_empty()  # not reached yet: no "can't be blank"
    await expect(email).to_be_focused()
    await email.press_sequentially("@example.com", delay=20)

    await expect(page.locator("#user_email-error")).to_be_empty()
    await expect(email).not_to_have_attribute("aria-invalid", "true")
    await expect(email).to_have_value("ada@example.com")
    await expect(email).to_be_focused()


async def test_a_submit_answered_with_errors_swaps_the_form_in_and_focuses_the_first_invalid_field(page: Page) -> None:
    from playwright.async_api import expect

    await page.goto("/t/new")
    await page.fill("#user_email", "ada@example.com")

    await page.get_by_role("button", name="Save").click()

    await expect(page.locator("#user_name-error")).to_have_text("can't be blank")
    await expect(page.locator("#user_name")).to_be_focused()
    await expect(page.locator("#user_email")).to_have_value("ada@example.com")
    await expect(page).to_have_url(f"{BASE}/t/new")  # a POST answered with its form is no history entry


async def test_confirm_guards_a_delete_and_the_empty_state_appears_with_the_last_row_gone(page: Page) -> None:
    from playwright.async_api import Dialog, expect

    await page.goto("/t")
    empty = page.get_by_text("No users yet.")
    await expect(empty).to_be_hidden()
    questions: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        questions.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await page.get_by_role("button", name="Delete").click()
    await expect(page.locator("#users-1")).to_have_count(1)

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete").click()

    await expect(page.locator("#users-1")).to_have_count(0)
    await expect(empty).to_be_visible()
    assert questions == ["Delete ada@example.com?"]


async def test_disable_with_shows_its_text_while_the_form_submits(page: Page) -> None:
    from playwright.async_api import expect

    await page.goto("/t/new")
    await page.route(f"{BASE}/t/save", lambda route: None)  # the answer never comes: stays submitting

    await page.get_by_role("button", name="Save").click()

    button = page.locator("#user-form button[type=submit]")
    await expect(button).to_be_disabled()
    await expect(button).to_have_text("Saving...")


async def test_the_navigation_collapses_behind_a_toggle_on_a_phone(page: Page) -> None:
    from playwright.async_api import expect

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto("/t")
    toggle = page.get_by_role("button", name="Menu")
    settings_link = page.get_by_role("link", name="Settings")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(settings_link).to_be_hidden()

    await toggle.click()

    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(settings_link).to_be_visible()
