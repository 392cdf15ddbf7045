"""Signing up in a browser (phx.gen.auth's UserRegistrationController tests)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from tests.support.browser_forms import csrf_token_in, log_in, submit
from tests.support.fixtures.accounts import enqueued_emails, unique_user_email, user_fixture, valid_user_password


def _registration(**overrides: str) -> dict[str, str]:
    return {"email": unique_user_email(), "name": "Ada", "password": valid_user_password(), **overrides}


async def test_the_page_shows_the_form(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/register")

    assert response.status_code == 200
    assert "Register for an account" in response.text
    assert 'href="/users/log-in"' in response.text
    for field in ("email", "name", "password"):
        assert f'id="user_{field}"' in response.text
    assert 'hx-post="/users/register/validate"' in response.text


async def test_signing_up_sends_the_emails_and_asks_to_check_them(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    attrs = _registration()

    response = await submit(client, "/users/register", "/users/register", attrs)

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"
    page = (await client.get("/users/log-in")).text
    assert f"An email was sent to {attrs['email']}, please access it to confirm your account." in page
    user = await accounts.get_user_by_email(attrs["email"])
    assert user is not None
    assert user.confirmed_at is None
    assert [email["type"] for email in await enqueued_emails(db, user)] == ["welcome", "confirmation"]
    # Not logged in by signing up; the password chosen works on the log-in page.
    assert (await client.get("/api/socket-token")).status_code == 401
    assert (await log_in(client, attrs["email"])).headers["location"] == "/"


async def test_a_role_in_the_form_is_ignored(client: httpx.AsyncClient) -> None:
    attrs = _registration(role="admin")

    await submit(client, "/users/register", "/users/register", attrs)

    user = await accounts.get_user_by_email(attrs["email"])
    assert user is not None
    assert user.role == accounts.Role.USER


async def test_invalid_input_shows_the_errors_and_keeps_what_was_typed(client: httpx.AsyncClient) -> None:
    response = await submit(
        client, "/users/register", "/users/register", {"email": "with spaces", "name": "", "password": "short"}
    )

    assert response.status_code == 422
    assert "must be a valid email" in response.text
    assert "can&#39;t be blank" in response.text or "can't be blank" in response.text
    assert "should be at least 12 character(s)" in response.text
    assert 'value="with spaces"' in response.text
    assert 'value="short"' not in response.text  # a password is never sent back
    assert 'aria-invalid="true"' in response.text


async def test_a_taken_email_says_so(client: httpx.AsyncClient) -> None:
    user = await user_fixture()

    response = await submit(client, "/users/register", "/users/register", _registration(email=user.email.upper()))

    assert response.status_code == 422
    assert "has already been taken" in response.text


async def test_live_validation_answers_only_the_error_blocks_of_touched_fields(client: httpx.AsyncClient) -> None:
    page = await client.get("/users/register")

    response = await client.post(
        "/users/register/validate",
        data={"email": "nope", "name": "", "password": "short"},
        headers={"x-csrf-token": csrf_token_in(page.text), "hx-request": "true"},
    )

    assert response.status_code == 200
    assert "<form" not in response.text
    assert "<input" not in response.text
    blocks = re.findall(r'<div id="(user_\w+)-error" class="field-errors" hx-swap-oob="true">', response.text)
    assert blocks == ["user_email", "user_name", "user_password"]
    assert "must be a valid email" in response.text
    assert "should be at least 12 character(s)" in response.text
    assert "can't be blank" not in response.text  # the name was not typed in yet
    assert await accounts.get_user_by_email("nope") is None


async def test_live_validation_does_not_say_whether_an_email_is_taken(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    page = await client.get("/users/register")

    response = await client.post(
        "/users/register/validate",
        data=_registration(email=user.email),
        headers={"x-csrf-token": csrf_token_in(page.text)},
    )

    assert "has already been taken" not in response.text
    assert 'class="field-error"' not in response.text


async def test_without_the_csrf_token_nothing_is_written(client: httpx.AsyncClient) -> None:
    attrs = _registration()
    await client.get("/users/register")

    response = await client.post("/users/register", data=attrs)
    validate = await client.post("/users/register/validate", data=attrs)

    assert response.status_code == 403
    assert validate.status_code == 403
    assert await accounts.get_user_by_email(attrs["email"]) is None


async def test_a_signed_in_user_goes_home(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)

    assert (await client.get("/users/register")).headers["location"] == "/"


async def test_sign_ups_share_the_api_limit_per_client_ip(client: httpx.AsyncClient) -> None:
    for _ in range(10):  # RATE_LIMIT_REGISTRATION: 10 an hour per client IP
        assert (await client.post("/api/users/register", json={"user": _registration()})).status_code == 201

    refused = await submit(client, "/users/register", "/users/register", _registration())
    # Input the form refuses anyway is not counted: it never reaches the context.
    invalid = await submit(client, "/users/register", "/users/register", _registration(password="short"))

    assert refused.status_code == 429
    assert invalid.status_code == 422
