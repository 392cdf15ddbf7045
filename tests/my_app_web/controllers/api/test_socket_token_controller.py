"""`GET /api/socket-token`: a socket token bound to the credential it was asked with."""

from __future__ import annotations

import uuid

import httpx

from my_app import accounts
from my_app.config import Settings
from my_app_web.channels import socket_token
from my_app_web.channels.user_socket import UserSocket
from tests.support.fixtures.accounts import user_fixture


async def connect_with(settings: Settings, token: str) -> dict[str, object] | None:
    """What UserSocket.connect assigns for the token (None: the socket is refused with 403)."""
    return await UserSocket(settings).connect({"token": token}, {})


async def test_a_bearer_token_gets_a_socket_token_bound_to_the_user_and_the_credential(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await user_fixture()
    api_token = await accounts.create_api_token(user)

    response = await client.get("/api/socket-token", headers={"authorization": f"Bearer {api_token}"})

    assert response.status_code == 200
    token = response.json()["data"]["token"]
    claims = socket_token.verify(settings, token)
    credential = await accounts.get_credential(api_token, "api")
    assert claims is not None
    assert credential is not None
    assert (claims.user_id, claims.credential_id) == (user.id, credential.id)
    assigns = await connect_with(settings, token)
    assert assigns is not None
    assert assigns["user_id"] == str(user.id)
    assert assigns["socket_id"] == accounts.socket_id_for(api_token)


async def test_the_socket_token_opens_nothing_once_its_credential_is_logged_out(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await user_fixture()
    api_token = await accounts.create_api_token(user)
    headers = {"authorization": f"Bearer {api_token}"}
    token = (await client.get("/api/socket-token", headers=headers)).json()["data"]["token"]
    assert await connect_with(settings, token) is not None

    assert (await client.delete("/api/sessions", headers=headers)).status_code == 204

    assert await connect_with(settings, token) is None


async def test_without_a_valid_credential_it_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/socket-token")).status_code == 401
    bad = await client.get("/api/socket-token", headers={"authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json() == {"errors": {"detail": "Unauthorized"}}


def test_a_token_from_another_secret_or_tampered_is_refused(settings: Settings) -> None:
    other = settings.model_copy(update={"secret_key_base": "o" * 64})
    user_id, credential_id = uuid.uuid4(), uuid.uuid4()
    assert socket_token.verify(settings, socket_token.sign(other, user_id, credential_id)) is None
    good = socket_token.sign(settings, user_id, credential_id)
    assert socket_token.verify(settings, good[:-2] + "xx") is None
    assert socket_token.verify(settings, good) == socket_token.SocketClaims(user_id, credential_id)


def test_a_token_naming_no_credential_is_refused(settings: Settings) -> None:
    """The shape tokens had before they named a credential: whoever holds the key could mint one."""
    serializer = socket_token._serializer(settings)
    old_shape = serializer.dumps({"user_id": str(uuid.uuid4()), "socket_id": None})

    assert socket_token.verify(settings, old_shape) is None
