"""Confirming an email change from the link sent to the new address."""

from __future__ import annotations

import httpx

from my_app import accounts
from tests.support.browser_forms import log_in
from tests.support.fixtures.accounts import extract_user_token, unique_user_email, url_for, user_fixture


async def test_the_link_switches_the_signed_in_user_to_the_new_email(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    new_email = unique_user_email()
    email = await accounts.deliver_user_update_email_instructions(
        user, user.email, new_email, url_for("settings/confirm-email")
    )
    token = extract_user_token(email)
    await log_in(client, user.email)

    response = await client.get(f"/users/settings/confirm-email/{token}")

    # Back to the settings page, as phx.gen.auth 1.8 does.
    assert response.headers["location"] == "/users/settings"
    settings = (await client.get("/users/settings")).text
    assert "Email changed successfully." in settings
    assert new_email in settings
    assert await accounts.get_user_by_email(new_email) is not None
    # The link works once.
    await client.get(f"/users/settings/confirm-email/{token}")
    assert "Email change link is invalid or it has expired." in (await client.get("/users/settings")).text


async def test_a_visitor_must_log_in_first(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/settings/confirm-email/whatever")

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"
