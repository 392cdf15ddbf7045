"""The browser log-in page, magic links and log-out (phx.gen.auth's UserSessionController tests)."""

from __future__ import annotations

import httpx

from my_app import accounts
from tests.support.browser_forms import csrf_token_in, log_in, submit
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


async def test_posting_without_the_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await client.get("/users/log-in")

    response = await client.post("/users/log-in", data={"email": user.email, "password": "hello world!!"})

    assert response.status_code == 403
    assert not await _signed_in(client)


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client: httpx.AsyncClient) -> None:
    user = await user_fixture()

    wrong = await log_in(client, user.email, "not the password")
    unknown = await log_in(client, "nobody@example.com", "not the password")

    assert wrong.status_code == unknown.status_code == 401
    assert "Invalid email or password" in unknown.text
    assert wrong.text.replace(user.email, "nobody@example.com").count("Invalid email or password") == 1


async def test_without_remember_me_no_long_lived_cookie_is_set(client: httpx.AsyncClient) -> None:
    user = await user_fixture()

    response = await log_in(client, user.email)

    assert "_my_app_web_user_remember_me=" not in response.headers.get("set-cookie", "")


async def test_the_remember_me_cookie_logs_the_browser_back_in(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await submit(
        client,
        "/users/log-in",
        "/users/log-in",
        {"email": user.email, "password": "hello world!!", "remember_me": "true"},
    )
    remembered = client.cookies.get("_my_app_web_user_remember_me")
    assert remembered

    client.cookies.clear()
    client.cookies.set("_my_app_web_user_remember_me", remembered)

    # A page of the browser pipeline reads the cookie and puts the session back.
    assert user.email in (await client.get("/", headers={"accept": "text/html"})).text
    assert await _signed_in(client)


async def test_the_magic_link_page_greets_the_user_and_confirms_an_unconfirmed_account(
    client: httpx.AsyncClient,
) -> None:
    user = await user_fixture(password=None)
    token = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))

    page = await client.get(f"/users/log-in/{token}")
    assert f"Welcome {user.email}" in page.text.replace("<wbr>", "")
    assert "Confirm and stay logged in" in page.text

    response = await submit(
        client, f"/users/log-in/{token}", f"/users/log-in/{token}", {"_action": "confirmed", "remember_me": "true"}
    )

    assert response.headers["location"] == "/"
    assert "_my_app_web_user_remember_me=" in response.headers["set-cookie"]
    assert "User confirmed successfully." in (await client.get("/", headers={"accept": "text/html"})).text
    confirmed = await accounts.get_user_by_email(user.email)
    assert confirmed is not None
    assert confirmed.confirmed_at is not None


async def test_a_confirmed_user_s_magic_link_page_offers_to_stay_logged_in(client: httpx.AsyncClient) -> None:
    user = await confirmed_user_fixture()
    token = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))

    page = await client.get(f"/users/log-in/{token}")

    assert "Keep me logged in on this device" in page.text
    assert "Log me in only this time" in page.text
    assert "Confirm and stay logged in" not in page.text


async def test_a_bad_magic_link_goes_to_the_log_in_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/log-in/not-a-token")

    assert response.headers["location"] == "/users/log-in"
    assert "Magic link is invalid or it has expired." in (await client.get("/users/log-in")).text


async def test_logging_out_answers_delete_too(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)
    token = csrf_token_in((await client.get("/users/confirm/any")).text)  # a page open to everyone

    refused = await client.delete("/users/log-out")
    assert refused.status_code == 403
    assert await _signed_in(client)

    response = await client.delete("/users/log-out", headers={"x-csrf-token": token})

    assert response.headers["location"] == "/"
    assert not await _signed_in(client)


async def test_logging_out_without_the_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)

    response = await client.post("/users/log-out")

    assert response.status_code == 403
    assert await _signed_in(client)


async def test_the_page_speaks_german_after_locale_de(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/log-in?locale=de")

    assert "Anmelden" in response.text  # "Log in"
