"""Every link an email can carry opens a page of ours (the web layer owns those paths)."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Match

from my_app import accounts, mailer
from my_app.accounts import notifier
from my_app.config import Settings
from my_app_web.links import EMAIL_LINK_ROUTES, email_link
from tests.support.browser_forms import log_in
from tests.support.fixtures.accounts import confirmed_user_fixture, user_fixture


@pytest.mark.parametrize("kind", sorted(EMAIL_LINK_ROUTES))
def test_each_emailed_link_resolves_to_a_page(kind: str, settings: Settings, web_app: FastAPI) -> None:
    url = email_link(settings, kind, "a-token" if kind != "home" else None)
    assert url.startswith(settings.base_url + "/")
    path = url.removeprefix(settings.base_url)
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}

    assert any(route.matches(scope)[0] is Match.FULL for route in web_app.routes), f"{url} opens no page"


def test_links_are_built_on_app_host_not_on_a_request(settings: Settings) -> None:
    url = email_link(settings.model_copy(update={"app_host": "example.com", "url_scheme": "https"}), "magic_link", "t")

    assert url.startswith("https://example.com")
    assert url.endswith("/users/log-in/t")


LINK = re.compile(r"http://localhost:4000/\S*")


@pytest.mark.parametrize(
    ("kind", "params", "opens"),
    [
        ("welcome", {}, 200),
        ("confirmation", {}, 200),
        ("reset_password", {}, 200),
        ("magic_link", {}, 200),
        ("update_email", {"new_email": "ada.new@example.com"}, 303),  # confirms, then goes home
    ],
)
async def test_the_link_in_each_delivered_email_opens_its_page(
    kind: str, params: dict[str, str], opens: int, client: httpx.AsyncClient
) -> None:
    user = await confirmed_user_fixture() if kind == "magic_link" else await user_fixture()
    if kind == "update_email":
        await log_in(client, user.email)
    mailer.test_adapter.clear()

    await notifier.deliver_email(type=kind, user_id=str(user.id), **params)

    [email] = mailer.test_adapter.sent()
    match = LINK.search(email.text_body)
    assert match is not None, email.text_body
    response = await client.get(match.group(0).removeprefix("http://localhost:4000"))
    assert response.status_code == opens, (kind, match.group(0))
    if kind == "update_email":
        assert response.headers["location"] == "/"
        assert await accounts.get_user_by_email("ada.new@example.com") is not None
