"""Confirming an email change from the link sent to the new address."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from tests.support.browser_forms import csrf_token_in, log_in, submit
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import (
    enqueued_emails,
    extract_user_token,
    unique_user_email,
    url_for,
    user_fixture,
    valid_user_password,
)


async def test_the_link_switches_the_signed_in_user_to_the_new_email(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    new_email = unique_user_email()
    email = await accounts.deliver_user_update_email_instructions(
        user, user.email, new_email, url_for("settings/confirm-email")
    )
    token = extract_user_token(email)
    await log_in(client, user.email)

    response = await client.get(f"/users/settings/confirm-email/{token}")

    assert response.headers["location"] == "/"
    home = (await client.get("/", headers={"accept": "text/html"})).text
    assert "Email changed successfully." in home
    assert await accounts.get_user_by_email(new_email) is not None
    assert new_email in (await client.get("/users/settings")).text
    # The link works once.
    await client.get(f"/users/settings/confirm-email/{token}")
    assert (
        "Email change link is invalid or it has expired."
        in (await client.get("/", headers={"accept": "text/html"})).text
    )


async def test_a_visitor_must_log_in_first(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/settings/confirm-email/whatever")

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"


# --- The settings page (behind sudo mode) ---


async def _age_log_ins(db: AsyncConnection, user: accounts.User) -> None:
    """Make every log-in of `user` older than the sudo window."""
    await db.execute(
        text("UPDATE user_tokens SET authenticated_at = authenticated_at - interval '30 minutes' WHERE user_id = :id"),
        {"id": user.id},
    )


async def _signed_in(client: httpx.AsyncClient) -> bool:
    return (await client.get("/api/socket-token")).status_code == 200


async def test_the_page_shows_the_three_forms(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)

    response = await client.get("/users/settings")

    assert response.status_code == 200
    assert "Account Settings" in response.text
    for form in ("update_email", "update_password", "update_locale"):
        assert f'id="{form}"' in response.text
    assert f'value="{user.email}"' in response.text
    assert '<option value="de">Deutsch</option>' in response.text


async def test_a_visitor_is_sent_to_log_in_and_comes_back(client: httpx.AsyncClient) -> None:
    user = await user_fixture()

    response = await client.get("/users/settings")

    assert response.headers["location"] == "/users/log-in"
    assert "You must log in to access this page." in (await client.get("/users/log-in")).text
    assert (await log_in(client, user.email)).headers["location"] == "/users/settings"


async def test_an_old_log_in_must_re_authenticate_first(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    user = await user_fixture()
    await log_in(client, user.email)
    await _age_log_ins(db, user)

    response = await client.get("/users/settings")

    assert response.headers["location"] == "/users/log-in"
    page = await client.get("/users/log-in")
    assert page.status_code == 200  # signed in, but the log-in page shows: sudo mode asks for it
    assert "You must re-authenticate to access this page." in page.text
    assert "You need to reauthenticate to perform sensitive actions on your account." in page.text
    assert "readonly" in page.text
    again = await log_in(client, user.email)
    assert again.headers["location"] == "/users/settings"
    assert (await client.get("/users/settings")).status_code == 200


async def test_changes_need_sudo_mode_too(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    user = await user_fixture()
    await log_in(client, user.email)
    token = csrf_token_in((await client.get("/users/settings")).text)
    await _age_log_ins(db, user)

    response = await client.post(
        "/users/settings/password",
        data={
            "_csrf_token": token,
            "password": "a brand new passphrase",
            "password_confirmation": "a brand new passphrase",
        },
    )

    assert response.headers["location"] == "/users/log-in"
    assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is not None


async def test_changing_the_email_sends_a_link_to_the_new_address(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    user = await user_fixture()
    await log_in(client, user.email)
    new_email = unique_user_email()

    response = await submit(client, "/users/settings", "/users/settings/email", {"email": new_email})

    assert response.headers["location"] == "/users/settings"
    page = (await client.get("/users/settings")).text
    assert "A link to confirm your email change has been sent to the new address." in page
    assert [(email["type"], email.get("new_email")) for email in await enqueued_emails(db, user)] == [
        ("update_email", new_email)
    ]
    assert await accounts.get_user_by_email(user.email) is not None  # unchanged until the link is followed


async def test_an_invalid_or_unchanged_email_is_refused(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    user = await user_fixture()
    other = await user_fixture()
    await log_in(client, user.email)

    invalid = await submit(client, "/users/settings", "/users/settings/email", {"email": "no at sign"})
    same = await submit(client, "/users/settings", "/users/settings/email", {"email": user.email})
    taken = await submit(client, "/users/settings", "/users/settings/email", {"email": other.email})

    assert invalid.status_code == same.status_code == taken.status_code == 422
    assert "must be a valid email" in invalid.text
    assert 'value="no at sign"' in invalid.text
    assert "did not change" in same.text
    assert "has already been taken" in taken.text
    assert await enqueued_emails(db, user) == []


async def test_changing_the_password_logs_out_other_sessions_but_not_this_one(
    client: httpx.AsyncClient, web_app: FastAPI
) -> None:
    user = await user_fixture()
    await log_in(client, user.email)
    async with client_for(web_app) as other_browser:
        await log_in(other_browser, user.email)
        assert await _signed_in(other_browser)

        response = await submit(
            client,
            "/users/settings",
            "/users/settings/password",
            {"password": "a brand new passphrase", "password_confirmation": "a brand new passphrase"},
        )

        assert response.headers["location"] == "/users/settings"
        assert not await _signed_in(other_browser)
    assert await _signed_in(client)
    assert "Password updated successfully." in (await client.get("/users/settings")).text
    assert await accounts.get_user_by_email_and_password(user.email, "a brand new passphrase") is not None


async def test_a_remembered_browser_stays_remembered_after_a_password_change(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await submit(
        client,
        "/users/log-in",
        "/users/log-in",
        {"email": user.email, "password": valid_user_password(), "remember_me": "true"},
    )

    response = await submit(
        client,
        "/users/settings",
        "/users/settings/password",
        {"password": "a brand new passphrase", "password_confirmation": "a brand new passphrase"},
    )

    assert "_my_app_web_user_remember_me=" in response.headers["set-cookie"]


async def test_a_bad_new_password_shows_the_errors(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)

    short = await submit(
        client, "/users/settings", "/users/settings/password", {"password": "short", "password_confirmation": "short"}
    )
    mismatch = await submit(
        client,
        "/users/settings",
        "/users/settings/password",
        {"password": "a brand new passphrase", "password_confirmation": "another passphrase"},
    )

    assert short.status_code == mismatch.status_code == 422
    assert "should be at least 12 character(s)" in short.text
    assert "does not match password" in mismatch.text
    assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is not None


async def test_choosing_a_language_saves_it_on_the_account(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)

    response = await submit(client, "/users/settings", "/users/settings/locale", {"locale": "de"})

    assert response.headers["location"] == "/users/settings"
    reloaded = await accounts.get_user_by_email(user.email)
    assert reloaded is not None
    assert reloaded.locale == "de"
    assert '<option value="de" selected>Deutsch</option>' in (await client.get("/users/settings")).text

    await submit(client, "/users/settings", "/users/settings/locale", {"locale": ""})
    back = await accounts.get_user_by_email(user.email)
    assert back is not None
    assert back.locale is None


async def test_an_unknown_language_is_refused(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)

    response = await submit(client, "/users/settings", "/users/settings/locale", {"locale": "xx"})

    assert response.status_code == 422
    assert "is invalid" in response.text


async def test_live_validation_answers_only_error_blocks(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)
    headers = {"x-csrf-token": csrf_token_in((await client.get("/users/settings")).text), "hx-request": "true"}

    email = await client.post("/users/settings/email/validate", data={"email": "nope"}, headers=headers)
    password = await client.post(
        "/users/settings/password/validate",
        data={"password": "a brand new passphrase", "password_confirmation": "a brand"},
        headers=headers,
    )

    assert "<form" not in email.text
    assert email.text.count("hx-swap-oob") == 1
    assert "must be a valid email" in email.text
    assert "<form" not in password.text
    assert password.text.count("hx-swap-oob") == 2
    assert "does not match password" in password.text


async def test_every_change_needs_the_csrf_token(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)

    for path, data in [
        ("/users/settings/email", {"email": unique_user_email()}),
        ("/users/settings/password", {"password": "a brand new passphrase", "password_confirmation": "x"}),
        ("/users/settings/locale", {"locale": "de"}),
        ("/users/settings/email/validate", {"email": "x"}),
    ]:
        assert (await client.post(path, data=data)).status_code == 403, path
