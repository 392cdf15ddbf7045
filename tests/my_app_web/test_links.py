"""Every link an email can carry opens a page of ours (the web layer owns those paths)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from starlette.routing import Match

from my_app.config import Settings
from my_app_web.links import EMAIL_LINK_ROUTES, email_link


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
