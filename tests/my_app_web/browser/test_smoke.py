"""The harness itself, in Chromium: the home page loads its digested static files under the strict CSP."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, Response, expect

from my_app import accounts
from my_app_web.plugs.security_headers import PAGE_POLICY
from tests.support.browser import BrowserUser, Mailbox, Pages, log_in, screenshot

IMMUTABLE = "public, max-age=31536000, immutable"


async def test_home_page_loads_with_digested_static_files_and_no_csp_violation(
    page: Page, pages: Pages, app_server: str
) -> None:
    static: list[Response] = []
    page.on("response", lambda response: static.append(response) if "/static/" in response.url else None)

    response = await page.goto("/")

    assert response is not None
    assert response.status == 200
    assert (await page.title()).endswith("MyApp")
    assert await page.locator("h1").first.inner_text()
    # Stylesheets and scripts come under digested names, cached for a year.
    await page.wait_for_load_state("load")
    assert static, "the page loaded no static file"
    for asset in static:
        assert asset.status == 200, asset.url
        headers = await asset.all_headers()
        assert headers["cache-control"] == IMMUTABLE, (asset.url, headers)
    assert await page.evaluate("getComputedStyle(document.body).fontFamily") != ""
    # htmx and its SSE extension, loaded by the root layout.
    assert await page.evaluate("typeof htmx") == "object"
    assert await page.evaluate("typeof htmx.createEventSource") == "function"
    assert pages.of(page).csp_violations == []
    assert pages.of(page).page_errors == []
    await screenshot(page, "home")


async def test_the_csp_check_sees_an_inline_script_refused(page: Page, pages: Pages) -> None:
    """The harness notices a violation: an inline script on one of our pages is refused and reported."""
    await page.goto("/")
    async with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        await page.evaluate(
            "() => { const script = document.createElement('script');"
            " script.textContent = 'window.inlineRan = true'; document.head.append(script) }"
        )

    assert await page.evaluate("window.inlineRan === undefined")
    violations = list(pages.of(page).csp_violations)
    assert violations, "Chromium reported no CSP violation for an inline script"
    pages.of(page).csp_violations.clear()  # expected here; any other test fails on one


async def test_each_context_has_its_own_cookies(new_context: object, app_server: str) -> None:
    assert callable(new_context)
    first = await new_context()
    second = await new_context(java_script_enabled=False)
    await first.add_cookies([{"name": "probe", "value": "1", "url": app_server}])

    assert [cookie["name"] for cookie in await first.cookies()] == ["probe"]
    assert await second.cookies() == []
    no_js = await second.new_page()
    await no_js.goto("/")
    assert (await no_js.title()).endswith("MyApp")
    async with httpx.AsyncClient(base_url=app_server) as client:
        assert (await client.get("/health")).status_code == 200


async def test_emails_sent_by_the_server_arrive_in_the_mailbox_with_links_to_it(
    mailbox: Mailbox, committed_user: BrowserUser, app_server: str, page: Page
) -> None:
    await accounts.request_login_link(committed_user.email)  # a job, run by the live server's worker

    link = await mailbox.last_link(to=committed_user.email, containing="/users/log-in/")

    assert link.startswith(f"{app_server}/users/log-in/")
    response = await page.goto(link)
    assert response is not None
    assert response.status == 200


async def test_log_in_helper_signs_the_user_in(page: Page, committed_user: BrowserUser) -> None:
    await log_in(page, committed_user.email, committed_user.password)

    assert "/users/log-in" not in page.url


async def test_an_es_module_under_a_digested_name_imports_the_vendored_phoenix_client(
    page: Page, pages: Pages, app_server: str
) -> None:
    """How /chat loads `phoenix`: a digested module, a relative import of the undigested vendor path."""
    module = 'import {Socket, Presence} from "./vendor/phoenix@1.8.16/phoenix.mjs"\n'
    module += "document.body.dataset.phoenix = typeof Socket + ' ' + typeof Presence\n"
    html = "<!DOCTYPE html><html><head><title>probe</title>"
    html += f'<script type="module" src="/static/probe-{"0" * 32}.js"></script></head><body></body></html>'
    headers = {"content-security-policy": PAGE_POLICY}
    # Served by the test, under the app's origin and CSP; the import itself goes to the live server.
    await page.route(
        f"{app_server}/probe", lambda route: route.fulfill(body=html, content_type="text/html", headers=headers)
    )
    await page.route(
        f"{app_server}/static/probe-*.js",
        lambda route: route.fulfill(body=module, content_type="text/javascript", headers=headers),
    )
    imported: list[Response] = []
    page.on("response", lambda response: imported.append(response) if "phoenix.mjs" in response.url else None)

    await page.goto("/probe")

    await expect(page.locator("body")).to_have_attribute("data-phoenix", "function function")
    assert [response.url for response in imported] == [f"{app_server}/static/vendor/phoenix@1.8.16/phoenix.mjs"]
    assert (await imported[0].all_headers())["content-type"] == "text/javascript; charset=utf-8"
