"""Choosing a new password from the emailed reset link."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from tests.support.browser_forms import csrf_token_in, log_in, submit
from tests.support.fixtures.accounts import (
    enqueued_emails,
    extract_user_token,
    url_for,
    user_fixture,
    valid_user_password,
)


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


# --- Asking for the link ---


async def test_asking_for_a_reset_link_answers_the_same_for_any_email(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    user = await user_fixture()
    page = await client.get("/users/reset-password")
    assert page.status_code == 200
    assert "Forgot your password?" in page.text

    known = await submit(client, "/users/reset-password", "/users/reset-password", {"email": user.email})
    unknown = await submit(client, "/users/reset-password", "/users/reset-password", {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"] == "/"
    home = (await client.get("/", headers={"accept": "text/html"})).text
    assert "If your email is in our system, you will receive instructions to reset your password shortly." in home
    assert [email["type"] for email in await enqueued_emails(db, user)] == ["reset_password"]


async def test_reset_requests_are_rate_limited_per_address(client: httpx.AsyncClient) -> None:
    for _ in range(5):  # RATE_LIMIT_EMAIL_REQUESTS: 5 per address and client IP
        response = await submit(client, "/users/reset-password", "/users/reset-password", {"email": "a@example.com"})
        assert response.status_code == 303

    refused = await submit(client, "/users/reset-password", "/users/reset-password", {"email": "a@example.com"})

    assert refused.status_code == 429


async def test_asking_without_the_csrf_token_is_refused(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    user = await user_fixture()
    await client.get("/users/reset-password")

    response = await client.post("/users/reset-password", data={"email": user.email})

    assert response.status_code == 403
    assert await enqueued_emails(db, user) == []


async def test_the_new_password_validates_as_you_type(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    token = await _reset_token(user)
    page = await client.get(f"/users/reset-password/{token}")
    assert 'hx-post="/users/reset-password/' in page.text

    response = await client.post(
        f"/users/reset-password/{token}/validate",
        data={"password": "short", "password_confirmation": ""},
        headers={"x-csrf-token": csrf_token_in(page.text), "hx-request": "true"},
    )

    assert response.status_code == 200
    assert "<form" not in response.text
    assert response.text.count("hx-swap-oob") == 2
    assert "should be at least 12 character(s)" in response.text
    assert "does not match password" not in response.text  # the confirmation is not typed in yet
    assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is not None


async def test_a_reset_does_not_log_in(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    page = f"/users/reset-password/{await _reset_token(user)}"

    await submit(
        client, page, page, {"password": "a brand new passphrase", "password_confirmation": "a brand new passphrase"}
    )

    assert (await client.get("/api/socket-token")).status_code == 401
