"""Filling in our server-rendered forms from a test, as a browser without JavaScript would."""

from __future__ import annotations

import re

import httpx

from tests.support.fixtures.accounts import valid_user_password

_CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token_in(html: str) -> str:
    """The CSRF token a page's form carries (its hidden `_csrf_token` field)."""
    match = _CSRF_FIELD.search(html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


async def submit(client: httpx.AsyncClient, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Open `page`, then post `data` to `action` with the CSRF token the page's form carries."""
    form = await client.get(page)
    assert form.status_code == 200, form.text
    return await client.post(action, data={"_csrf_token": csrf_token_in(form.text), **data})


async def log_in(client: httpx.AsyncClient, email: str, password: str | None = None) -> httpx.Response:
    """Log in through the log-in page with the email and password (the fixtures' password by default)."""
    return await submit(
        client, "/users/log-in", "/users/log-in", {"email": email, "password": password or valid_user_password()}
    )
