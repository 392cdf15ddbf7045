"""UserSocket (the seed's user_socket.ex): signed-in users only, and the channel for each topic."""

from __future__ import annotations

from typing import Any

from my_app import accounts
from my_app.config import Settings
from my_app_web.channels import socket_token
from my_app_web.channels.room_channel import RoomChannel
from my_app_web.channels.socket_handler import SocketHandler


class UserSocket(SocketHandler):
    channels = (("room:*", RoomChannel),)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def connect(self, params: dict[str, str], connect_info: dict[str, Any]) -> dict[str, Any] | None:
        """Accept a valid socket token, from the `token` param or the client's `authToken` option."""
        token = params.get("token") or connect_info.get("auth_token")
        claims = socket_token.verify(self.settings, token) if token else None
        if claims is None:
            return None
        user = await accounts.get_user(claims.user_id)
        if user is None:
            return None
        # The user as it was at connect (an Identity, not the ORM User: it stays for the socket's life).
        return {"user": accounts.Identity.of(user), "user_id": str(user.id), "socket_id": claims.socket_id}

    def id(self, assigns: dict[str, Any]) -> str | None:
        socket_id = assigns.get("socket_id")
        return socket_id if isinstance(socket_id, str) else None
