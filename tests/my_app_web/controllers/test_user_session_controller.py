"""The browser log-in page, magic links and log-out (phx.gen.auth's UserSessionController tests)."""

from __future__ import annotations

import httpx

from my_app import accounts
from tests.support.browser_forms import log_in, submit
from tests.support.fixtures.accounts import (
    confirmed_user_fixture,
    extract_user_token,
    url_for,
    user_fixture,
)


async def _signed_in(client: httpx.AsyncClient) -> bool:
    """Whether the browser has a signed-in session (the socket-token endpoint answers only then)."""
    response = await client.get("/api/socket-token")
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


async def test_the_log_in_page_shows_both_forms(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/log-in")

    assert response.status_code == 200
    assert 'name="password"' in response.text
    assert "Email me a log-in link" in response.text


async def test_logging_in_with_the_right_password_signs_the_browser_in(client: httpx.AsyncClient) -> None:
    user = await user_fixture()

    response = await log_in(client, user.email)

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert await _signed_in(client)
    assert "Welcome back!" in (await client.get("/", headers={"accept": "text/html"})).text
    # A signed-in user who opens the log-in page goes home.
    assert (await client.get("/users/log-in")).headers["location"] == "/"


async def test_a_wrong_password_keeps_the_browser_out(client: httpx.AsyncClient) -> None:
    user = await user_fixture()

    response = await log_in(client, user.email, "not the password")

    assert response.status_code == 401
    assert "Invalid email or password" in response.text
    assert user.email in response.text  # the form keeps what was typed
    assert not await _signed_in(client)


async def test_remember_me_sets_the_long_lived_cookie(client: httpx.AsyncClient) -> None:
    user = await user_fixture()

    response = await submit(
        client,
        "/users/log-in",
        "/users/log-in",
        {"email": user.email, "password": "hello world!!", "remember_me": "true"},
    )

    assert "_my_app_web_user_remember_me=" in response.headers["set-cookie"]


async def test_a_log_in_returns_to_the_page_that_asked_for_it(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    guarded = await client.get("/users/settings/confirm-email/some-token")
    assert guarded.headers["location"] == "/users/log-in"

    response = await log_in(client, user.email)

    assert response.headers["location"] == "/users/settings/confirm-email/some-token"


async def test_asking_for_a_link_answers_the_same_for_any_email(client: httpx.AsyncClient) -> None:
    user = await confirmed_user_fixture()
    known = await submit(client, "/users/log-in", "/users/log-in", {"email": user.email})
    unknown = await submit(client, "/users/log-in", "/users/log-in", {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"] == "/users/log-in"
    page = await client.get("/users/log-in")
    assert "If your email is in our system" in page.text


async def test_a_magic_link_logs_in_once(client: httpx.AsyncClient) -> None:
    user = await confirmed_user_fixture()
    token = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))

    opened = await client.get(f"/users/log-in/{token}")
    assert opened.status_code == 200
    assert not await _signed_in(client)  # opening the link (a mail scanner) logs nobody in

    used = await submit(client, f"/users/log-in/{token}", f"/users/log-in/{token}", {})
    assert used.headers["location"] == "/"
    assert await _signed_in(client)

    client.cookies.clear()
    # A used link: its page says so (phx.gen.auth 1.8 checks the token before showing the button)...
    reopened = await client.get(f"/users/log-in/{token}")
    assert reopened.headers["location"] == "/users/log-in"
    assert "Magic link is invalid or it has expired." in (await client.get("/users/log-in")).text
    # ... and posting it anyway (a page opened before the link was used) logs nobody in.
    again = await submit(client, "/users/log-in", f"/users/log-in/{token}", {})
    assert again.headers["location"] == "/users/log-in"
    assert "The link is invalid or it has expired." in (await client.get("/users/log-in")).text
    assert not await _signed_in(client)


async def test_logging_out_ends_the_session(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)
    assert await _signed_in(client)

    # Any page's form carries the session's token; the confirmation page is open to everyone.
    response = await submit(client, "/users/confirm/any", "/users/log-out", {})

    assert response.headers["location"] == "/"
    assert not await _signed_in(client)
    assert "Logged out successfully." in (await client.get("/", headers={"accept": "text/html"})).text


async def test_the_form_shares_the_api_log_in_limit(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    for _ in range(5):  # RATE_LIMIT_LOGIN: 5 failures per account
        assert (await log_in(client, user.email, "wrong password")).status_code == 401

    refused = await client.post("/api/sessions", json={"email": user.email, "password": "wrong password"})

    assert refused.status_code == 429
    assert (await log_in(client, user.email)).status_code == 429  # even with the right password, for now
