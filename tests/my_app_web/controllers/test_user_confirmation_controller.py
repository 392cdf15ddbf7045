"""Confirming an account from the emailed link."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from tests.support.browser_forms import log_in, submit
from tests.support.fixtures.accounts import (
    confirmed_user_fixture,
    enqueued_emails,
    extract_user_token,
    url_for,
    user_fixture,
)


async def test_the_emailed_link_opens_a_page_whose_button_confirms(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    token = extract_user_token(await accounts.deliver_user_confirmation_instructions(user, url_for("confirm")))

    page = await client.get(f"/users/confirm/{token}")
    assert page.status_code == 200
    assert "Confirm my account" in page.text
    reloaded = await accounts.get_user_by_email(user.email)
    assert reloaded is not None
    assert reloaded.confirmed_at is None

    response = await submit(client, f"/users/confirm/{token}", f"/users/confirm/{token}", {})

    assert response.headers["location"] == "/"
    confirmed = await accounts.get_user_by_email(user.email)
    assert confirmed is not None
    assert confirmed.confirmed_at is not None
    assert "User confirmed successfully." in (await client.get("/", headers={"accept": "text/html"})).text


async def test_a_bad_link_says_so_and_confirms_nothing(client: httpx.AsyncClient) -> None:
    response = await submit(client, "/users/confirm/nope", "/users/confirm/nope", {})

    assert response.headers["location"] == "/"
    page = await client.get("/", headers={"accept": "text/html"})
    assert "User confirmation link is invalid or it has expired." in page.text


async def test_asking_for_the_instructions_again_answers_the_same_for_any_email(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    user = await user_fixture()
    page = await client.get("/users/confirm")
    assert page.status_code == 200
    assert "Resend confirmation instructions" in page.text

    known = await submit(client, "/users/confirm", "/users/confirm", {"email": user.email})
    unknown = await submit(client, "/users/confirm", "/users/confirm", {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"] == "/"
    home = (await client.get("/", headers={"accept": "text/html"})).text
    assert "If your email is in our system and it has not been confirmed yet" in home
    assert [email["type"] for email in await enqueued_emails(db, user)] == ["confirmation"]


async def test_a_confirmed_user_gets_no_new_instructions(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    user = await confirmed_user_fixture()

    response = await submit(client, "/users/confirm", "/users/confirm", {"email": user.email})

    assert response.status_code == 303
    assert await enqueued_emails(db, user) == []


async def test_confirming_does_not_log_in_and_needs_the_csrf_token(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    token = extract_user_token(await accounts.deliver_user_confirmation_instructions(user, url_for("confirm")))
    await client.get(f"/users/confirm/{token}")

    refused = await client.post(f"/users/confirm/{token}")
    assert refused.status_code == 403

    await submit(client, f"/users/confirm/{token}", f"/users/confirm/{token}", {})
    assert (await client.get("/api/socket-token")).status_code == 401


async def test_a_used_link_says_nothing_to_the_signed_in_confirmed_user(client: httpx.AsyncClient) -> None:
    user = await confirmed_user_fixture()
    await log_in(client, user.email)

    await submit(client, "/users/confirm/used", "/users/confirm/used", {})

    home = (await client.get("/", headers={"accept": "text/html"})).text
    assert "User confirmation link is invalid or it has expired." not in home
