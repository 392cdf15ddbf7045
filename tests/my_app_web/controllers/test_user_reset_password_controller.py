"""Choosing a new password from the emailed reset link."""

from __future__ import annotations

import httpx

from my_app import accounts
from tests.support.browser_forms import log_in, submit
from tests.support.fixtures.accounts import extract_user_token, url_for, user_fixture, valid_user_password


async def _reset_token(user: accounts.User) -> str:
    return extract_user_token(await accounts.deliver_user_reset_password_instructions(user, url_for("reset-password")))


async def test_a_new_password_replaces_the_old_one(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    token = await _reset_token(user)
    page = f"/users/reset-password/{token}"

    response = await submit(
        client, page, page, {"password": "a brand new passphrase", "password_confirmation": "a brand new passphrase"}
    )

    assert response.headers["location"] == "/users/log-in"
    assert "Password reset successfully." in (await client.get("/users/log-in")).text
    assert await accounts.get_user_by_email_and_password(user.email, "a brand new passphrase") is not None
    assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is None
    assert (await log_in(client, user.email, "a brand new passphrase")).headers["location"] == "/"


async def test_a_password_the_context_refuses_shows_its_error(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    page = f"/users/reset-password/{await _reset_token(user)}"

    response = await submit(client, page, page, {"password": "short", "password_confirmation": "short"})

    assert response.status_code == 422
    assert "should be at least 12 character(s)" in response.text
    assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is not None


async def test_a_confirmation_that_differs_is_refused(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    page = f"/users/reset-password/{await _reset_token(user)}"

    response = await submit(
        client, page, page, {"password": "a brand new passphrase", "password_confirmation": "another passphrase"}
    )

    assert response.status_code == 422
    assert "does not match password" in response.text
    assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is not None


async def test_a_bad_link_goes_to_the_log_in_page_with_a_message(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/reset-password/nope")

    assert response.headers["location"] == "/users/log-in"
    assert "Reset password link is invalid or it has expired." in (await client.get("/users/log-in")).text
