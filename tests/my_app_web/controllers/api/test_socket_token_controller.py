from __future__ import annotations

import uuid

import httpx

from my_app import accounts
from my_app.config import Settings
from my_app_web.channels import socket_token
from tests.support.fixtures.accounts import user_fixture


async def test_a_bearer_token_gets_a_socket_token_bound_to_the_user_and_the_credential(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await user_fixture()
    api_token = await accounts.create_api_token(user)

    response = await client.get("/api/socket-token", headers={"authorization": f"Bearer {api_token}"})

    assert response.status_code == 200
    claims = socket_token.verify(settings, response.json()["data"]["token"])
    assert claims is not None
    assert claims.user_id == user.id
    assert claims.socket_id == accounts.socket_id_for(api_token)


async def test_without_a_valid_credential_it_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/socket-token")).status_code == 401
    bad = await client.get("/api/socket-token", headers={"authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json() == {"errors": {"detail": "Unauthorized"}}


def test_a_token_from_another_secret_or_tampered_is_refused(settings: Settings) -> None:
    other = settings.model_copy(update={"secret_key_base": "o" * 64})
    user_id = uuid.uuid4()
    assert socket_token.verify(settings, socket_token.sign(other, user_id, None)) is None
    good = socket_token.sign(settings, user_id, None)
    assert socket_token.verify(settings, good[:-2] + "xx") is None
    assert socket_token.verify(settings, good) is not None
