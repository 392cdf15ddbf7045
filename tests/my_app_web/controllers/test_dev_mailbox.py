"""The dev mailbox pages, on the app with the dev routes mounted."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from my_app import mailer
from my_app.config import Settings
from my_app.mailer import Email
from my_app_web.controllers.dev_mailbox import mount_dev_routes
from my_app_web.endpoint import create_app
from tests.support.conn_case import client_for

HTML = {"accept": "text/html"}


@pytest.fixture
def local_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"mailer_adapter": "local"})


@pytest.fixture
def dev_app(local_settings: Settings) -> FastAPI:
    app = create_app(local_settings, start_application=False)
    mount_dev_routes(app, local_settings.model_copy(update={"env": "dev"}))
    return app


@pytest.fixture
async def browser(dev_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(dev_app) as http:
        yield http


@pytest.fixture(autouse=True)
def _empty_mailbox() -> Iterator[None]:
    mailer.local_mailbox.clear()
    yield
    mailer.local_mailbox.clear()


async def send(settings: Settings, **fields: Any) -> str:
    defaults: dict[str, Any] = {
        "to": ["ada@example.com"],
        "subject": "Welcome to MyApp",
        "text_body": "Welcome, Ada!",
        "html_body": "<h1>Welcome, Ada!</h1>",
    }
    result = await mailer.deliver(Email(**(defaults | fields)), settings=settings)
    return result.message_id


async def test_mailbox_lists_messages_newest_first(browser: httpx.AsyncClient, local_settings: Settings) -> None:
    await send(local_settings, subject="First message", to=["ada@example.com"])
    await send(local_settings, subject="Second message", to=["grace@example.com", "alan@example.com"])

    response = await browser.get("/dev/mailbox", headers=HTML)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.index("Second message") < page.index("First message")
    assert "grace@example.com, alan@example.com" in page
    assert re.search(r"<time datetime=\"\d{4}-\d\d-\d\dT", page)
    assert "only the <code>local</code> adapter" not in page


async def test_empty_mailbox_says_so(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/dev/mailbox", headers=HTML)

    assert response.status_code == 200
    assert "No messages yet" in response.text


async def test_message_page_shows_headers_html_frame_and_text(
    browser: httpx.AsyncClient, local_settings: Settings
) -> None:
    message_id = await send(local_settings, reply_to="support@example.com", headers={"X-Entity-Ref-ID": "order-42"})

    response = await browser.get(f"/dev/mailbox/{message_id}", headers=HTML)

    assert response.status_code == 200
    page = response.text
    assert "<h1>Welcome to MyApp</h1>" in page
    assert local_settings.mail_from is not None
    assert local_settings.mail_from.replace("<", "&lt;").replace(">", "&gt;") in page
    assert "ada@example.com" in page
    assert "support@example.com" in page
    assert "order-42" in page
    assert '<pre class="mailbox-text">Welcome, Ada!</pre>' in page
    frame = re.search(r"<iframe[^>]*>", page)
    assert frame is not None
    assert " sandbox " in frame.group(0)
    assert f'src="/dev/mailbox/{message_id}/html"' in frame.group(0)


async def test_html_part_is_served_sandboxed(browser: httpx.AsyncClient, local_settings: Settings) -> None:
    message_id = await send(local_settings, html_body="<h1>Welcome, Ada!</h1><script>alert(1)</script>")

    response = await browser.get(f"/dev/mailbox/{message_id}/html")

    assert response.status_code == 200
    assert response.text == "<h1>Welcome, Ada!</h1><script>alert(1)</script>"
    policy = response.headers["content-security-policy"]
    assert policy.startswith("sandbox;")
    assert "default-src 'none'" in policy
    # Its own policy, not the pages' one beside it: the mailbox page (same origin) may frame it.
    assert response.headers.get_list("content-security-policy") == [policy]
    assert "frame-ancestors 'self'" in policy
    assert response.headers["x-frame-options"] == "SAMEORIGIN"


async def test_message_without_html_shows_text_only(browser: httpx.AsyncClient, local_settings: Settings) -> None:
    message_id = await send(local_settings, html_body=None)

    page = await browser.get(f"/dev/mailbox/{message_id}", headers=HTML)
    html_part = await browser.get(f"/dev/mailbox/{message_id}/html")

    assert "This message has no HTML part." in page.text
    assert "<iframe" not in page.text
    assert html_part.status_code == 404


async def test_subjects_and_bodies_are_escaped(browser: httpx.AsyncClient, local_settings: Settings) -> None:
    message_id = await send(local_settings, subject="<script>alert(1)</script>", text_body="<b>not bold</b>")

    listing = await browser.get("/dev/mailbox", headers=HTML)
    page = await browser.get(f"/dev/mailbox/{message_id}", headers=HTML)

    assert "<script>alert(1)</script>" not in listing.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page.text


async def test_unknown_message_is_not_found(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dev/mailbox/no-such-message", headers=HTML)
    api = await browser.get("/dev/mailbox/no-such-message/html")

    assert page.status_code == 404
    assert "Not Found" in page.text
    assert api.status_code == 404
    assert api.json() == {"errors": {"detail": "Not Found"}}


async def test_clear_empties_the_mailbox_and_goes_back_to_it(
    browser: httpx.AsyncClient, local_settings: Settings
) -> None:
    message_id = await send(local_settings)

    response = await browser.post("/dev/mailbox/clear", headers=HTML)

    assert response.status_code == 303
    assert response.headers["location"] == "/dev/mailbox"
    assert "No messages yet" in (await browser.get("/dev/mailbox", headers=HTML)).text
    assert (await browser.get(f"/dev/mailbox/{message_id}", headers=HTML)).status_code == 404


async def test_mailbox_warns_when_the_adapter_keeps_nothing(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"mailer_adapter": "smtp"}), start_application=False)
    mount_dev_routes(app, settings.model_copy(update={"env": "dev"}))

    async with client_for(app) as http:
        response = await http.get("/dev/mailbox", headers=HTML)

    assert response.status_code == 200
    assert "The mailer adapter is <code>smtp</code>" in response.text


@pytest.mark.parametrize("env", ["test", "prod"])
async def test_mailbox_exists_only_in_dev(settings: Settings, env: str) -> None:
    app = create_app(settings, start_application=False)
    mount_dev_routes(app, settings.model_copy(update={"env": env}))

    async with client_for(app) as http:
        response = await http.get("/dev/mailbox", headers=HTML)

    assert response.status_code == 404
