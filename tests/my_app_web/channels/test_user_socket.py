"""UserSocket.connect on its own: a storm of connects waits its turn for the database rather than failing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from my_app import accounts
from my_app.config import Settings
from my_app_web.channels.user_socket import UserSocket
from tests.support.channel_case import token_for
from tests.support.fixtures.accounts import user_fixture


@pytest.mark.usefixtures("db")
async def test_a_storm_of_connects_uses_at_most_half_the_pool_and_every_socket_connects(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [await user_fixture(name=f"Storm {n}") for n in range(8)]
    tokens = [await token_for(settings, user) for user in users]
    lookup = accounts.get_credential_by_id
    running = 0
    most = 0

    async def slow_lookup(credential_id: uuid.UUID) -> accounts.Credential | None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.01)  # a query that takes a while: the others pile up behind it
            return await lookup(credential_id)
        finally:
            running -= 1

    monkeypatch.setattr(accounts, "get_credential_by_id", slow_lookup)
    socket = UserSocket(settings.model_copy(update={"pool_size": 2}))

    connected = await asyncio.gather(*(socket.connect({"token": token}, {}) for token in tokens))

    assert [assigns["user_id"] if assigns else None for assigns in connected] == [str(user.id) for user in users]
    # Half the pool (one, here: the test's sandbox is one connection): the rest waited for their turn.
    assert most == 1
