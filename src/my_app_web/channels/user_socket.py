"""UserSocket (the seed's user_socket.ex): signed-in users only, and the channel for each topic."""

from __future__ import annotations

import asyncio
from typing import Any

from my_app import accounts
from my_app.config import Settings
from my_app_web.channels import socket_token
from my_app_web.channels.channel import Channel
from my_app_web.channels.room_channel import RoomChannel
from my_app_web.channels.socket_handler import SocketHandler

# Which channel serves which topic: `"room:*"` is every topic starting with `room:`, matched in
# order. `myapp gen channel` adds its channel here (it edits this assignment, so keep it one tuple).
CHANNELS: tuple[tuple[str, type[Channel]], ...] = (("room:*", RoomChannel),)


class UserSocket(SocketHandler):
    channels = CHANNELS

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # A storm of connects (every client of a node reconnecting after a deploy, or joining a big
        # room at once) queues here for its credential lookup, not in the Repo pool, whose checkout
        # gives up after its timeout (the socket would get HTTP 500 and retry later): at most half
        # of the pool looks credentials up at once, so the node's pages and API keep connections too.
        self._lookups = asyncio.Semaphore(max(1, settings.pool_size // 2))

    async def connect(self, params: dict[str, str], connect_info: dict[str, Any]) -> dict[str, Any] | None:
        """Accept a valid socket token, from the `token` param or the client's `authToken` option,
        whose credential (the API token or browser session it was minted from) still exists.

        One query: the credential joined to its user. A logged-out credential, or one deleted by a
        password change, refuses the socket (HTTP 403 at the handshake).
        """
        token = params.get("token") or connect_info.get("auth_token")
        claims = socket_token.verify(self.settings, token) if token else None
        if claims is None:
            return None
        async with self._lookups:
            credential = await accounts.get_credential_by_id(claims.credential_id)
        if credential is None or credential.user.id != claims.user_id:
            return None
        user = credential.user
        # An Identity, not the ORM User: it stays for the socket's life. Its role is a snapshot:
        # joins read the current one (chat.can_join).
        return {"user": accounts.Identity.of(user), "user_id": str(user.id), "socket_id": credential.socket_id}

    def id(self, assigns: dict[str, Any]) -> str | None:
        """The credential's topic: deleting the credential broadcasts `"disconnect"` there."""
        socket_id = assigns.get("socket_id")
        return socket_id if isinstance(socket_id, str) else None
