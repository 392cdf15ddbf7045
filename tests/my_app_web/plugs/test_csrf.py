"""CSRF protection: a form post without the session's token is refused with 403 and changes nothing."""

from __future__ import annotations

import httpx

from tests.support.browser_forms import csrf_token_in
from tests.support.fixtures.accounts import user_fixture, valid_user_password


async def test_a_form_post_without_a_token_is_forbidden(client: httpx.AsyncClient) -> None:
    user = await user_fixture()

    response = await client.post(
        "/users/log-in", data={"email": user.email, "password": valid_user_password()}, headers={"accept": "text/html"}
    )

    assert response.status_code == 403
    assert "Forbidden" in response.text
    assert "_my_app_web_user_remember_me" not in response.headers.get("set-cookie", "")
    assert (await client.get("/users/log-in")).status_code == 200  # still logged out: the form shows


async def test_a_token_from_another_session_is_forbidden(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    other_token = csrf_token_in((await client.get("/users/log-in")).text)
    client.cookies.clear()  # a new session, as a victim's browser would have

    response = await client.post(
        "/users/log-in", data={"_csrf_token": other_token, "email": user.email, "password": valid_user_password()}
    )

    assert response.status_code == 403


async def test_the_header_carries_the_token_for_scripts(client: httpx.AsyncClient) -> None:
    token = csrf_token_in((await client.get("/users/log-in")).text)

    response = await client.post("/users/log-out", headers={"x-csrf-token": token})

    assert response.status_code == 303
