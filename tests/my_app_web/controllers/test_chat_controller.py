"""The chat page: who may open it, the socket token it carries, the rooms it lists."""

from __future__ import annotations

import re

import httpx
import pytest

from my_app import accounts, chat
from my_app.accounts.user import Role
from my_app.config import Settings
from my_app_web.channels import socket_token
from tests.support.browser_forms import log_in
from tests.support.channel_case import connect
from tests.support.fixtures.accounts import user_fixture

_SOCKET_TOKEN = re.compile(r'<meta name="socket-token" content="([^"]+)">')


def socket_token_in(html: str) -> str:
    match = _SOCKET_TOKEN.search(html)
    assert match is not None, "the page has no socket-token meta"
    return match.group(1)


async def signed_in(client: httpx.AsyncClient, **attrs: object) -> accounts.User:
    user = await user_fixture(**attrs)
    assert (await log_in(client, user.email)).status_code == 303
    return user


@pytest.mark.parametrize("path", ["/chat", "/chat/rooms/general"])
async def test_anonymous_users_are_sent_to_log_in_and_come_back_after(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"
    user = await user_fixture()
    logged_in = await log_in(client, user.email)
    assert logged_in.headers["location"] == path


async def test_the_token_route_answers_401_without_a_session(client: httpx.AsyncClient) -> None:
    response = await client.get("/chat/token")

    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}


async def test_the_page_loads_the_client_and_joins_the_lobby(client: httpx.AsyncClient) -> None:
    user = await signed_in(client, name="Ada Lovelace")

    response = await client.get("/chat")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"  # it carries a token
    html = response.text
    assert 'data-topic="room:lobby"' in html
    assert f'data-user-id="{user.id}"' in html
    assert re.search(r'<script type="module" src="/static/chat-[0-9a-f]{32}\.js"></script>', html)
    assert re.search(r'<link rel="stylesheet" href="/static/chat-[0-9a-f]{32}\.css">', html)
    # What chat.js shows comes from the page (translated there).
    assert 'data-i18n-connecting="Connecting…"' in html
    assert 'data-i18n-reconnecting="Connection lost. Reconnecting…"' in html
    assert "Online" in html
    assert "<script>" not in html  # no inline script (CSP)


async def test_the_socket_token_opens_the_socket_and_joins_the_lobby(
    client: httpx.AsyncClient, live_url: str, settings: Settings
) -> None:
    user = await signed_in(client)
    token = socket_token_in((await client.get("/chat")).text)

    claims = socket_token.verify(settings, token)
    assert claims is not None
    assert claims.user_id == user.id
    async with connect(live_url, token) as socket:
        reply = await socket.join("room:lobby")
        assert reply[4]["status"] == "ok"
        state = await socket.next_event("presence_state", "room:lobby")
        assert list(state[4]) == [str(user.id)]


async def test_the_token_route_mints_a_fresh_token_for_the_session(
    client: httpx.AsyncClient, live_url: str, settings: Settings
) -> None:
    user = await signed_in(client)

    response = await client.get("/chat/token")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    token = response.json()["token"]
    claims = socket_token.verify(settings, token)
    assert claims is not None
    assert claims.user_id == user.id
    async with connect(live_url, token) as socket:
        assert (await socket.join("room:lobby"))[4]["status"] == "ok"


async def test_after_log_out_the_page_token_opens_nothing(
    client: httpx.AsyncClient, live_url: str, settings: Settings
) -> None:
    await signed_in(client)
    token = socket_token_in((await client.get("/chat")).text)
    html = (await client.get("/")).text
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert csrf is not None

    await client.post("/users/log-out", data={"_csrf_token": csrf.group(1)})

    assert (await client.get("/chat/token")).status_code == 401
    with pytest.raises(Exception, match="403"):
        async with connect(live_url, token):
            pass


async def test_only_the_private_rooms_the_user_belongs_to_are_listed(client: httpx.AsyncClient) -> None:
    user = await signed_in(client)
    general = await chat.create_room({"slug": "general", "name": "General talk"})
    await chat.create_room({"slug": "secret", "name": "Secret plans"})
    await chat.add_member(general, user)

    html = (await client.get("/chat")).text

    assert 'href="/chat/rooms/general"' in html
    assert "General talk" in html
    assert "Secret plans" not in html
    assert 'href="/chat/rooms/secret"' not in html
    assert 'href="/chat" aria-current="page"' in html


async def test_an_admin_sees_only_their_own_rooms_listed(client: httpx.AsyncClient) -> None:
    await signed_in(client, role=Role.ADMIN)
    await chat.create_room({"slug": "secret", "name": "Secret plans"})

    html = (await client.get("/chat")).text

    assert "Secret plans" not in html
    assert "You are in no private room." in html


async def test_a_member_opens_a_private_room(client: httpx.AsyncClient) -> None:
    user = await signed_in(client)
    room = await chat.create_room({"slug": "general", "name": "General talk"})
    await chat.add_member(room, user)

    response = await client.get("/chat/rooms/general")

    assert response.status_code == 200
    assert 'data-topic="room:general"' in response.text
    assert "<h1>General talk</h1>" in response.text
    assert 'href="/chat/rooms/general" aria-current="page"' in response.text


async def test_a_private_room_is_not_found_for_outsiders(client: httpx.AsyncClient) -> None:
    await signed_in(client)
    await chat.create_room({"slug": "secret", "name": "Secret plans"})

    assert (await client.get("/chat/rooms/secret")).status_code == 404
    assert (await client.get("/chat/rooms/no-such-room")).status_code == 404


async def test_an_admin_opens_any_room(client: httpx.AsyncClient) -> None:
    await signed_in(client, role=Role.ADMIN)
    await chat.create_room({"slug": "secret", "name": "Secret plans"})

    response = await client.get("/chat/rooms/secret")

    assert response.status_code == 200
    assert 'data-topic="room:secret"' in response.text
