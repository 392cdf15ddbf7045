"""Confirming an account from the emailed link."""

from __future__ import annotations

import httpx

from my_app import accounts
from tests.support.browser_forms import submit
from tests.support.fixtures.accounts import extract_user_token, url_for, user_fixture


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
