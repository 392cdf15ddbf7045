"""The socket module's API (Phoenix.Socket's callbacks): who may connect, and which channel serves a topic.

Examples:
    class UserSocket(SocketHandler):
        channels = (("room:*", RoomChannel),)            # channel "room:*", RoomChannel

        async def connect(self, params, connect_info):   # connect/3
            return {"user_id": ...} or None              # {:ok, socket} / :error (HTTP 403)

        def id(self, assigns):                           # id/1
            return f"users_socket:{assigns['user_id']}"
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from my_app_web.channels.channel import Channel


class SocketHandler:
    """A socket module (the seed's `user_socket.ex`): who may connect and which channel serves what."""

    #: (pattern, channel class); `*` matches the rest of the topic, as `channel "room:*", RoomChannel`.
    channels: Sequence[tuple[str, type[Channel]]] = ()

    async def connect(self, params: dict[str, str], connect_info: dict[str, Any]) -> dict[str, Any] | None:
        """The socket's assigns, or None to refuse the connection (HTTP 403)."""
        return None

    def id(self, assigns: dict[str, Any]) -> str | None:
        """A topic naming this socket: broadcasting `"disconnect"` on it closes the socket."""
        return None

    def channel_for(self, topic: str) -> type[Channel] | None:
        route = self.route(topic)
        return route[1] if route is not None else None

    def route(self, topic: str) -> tuple[str, type[Channel]] | None:
        """The pattern matching `topic` and the channel class serving it (None: no channel serves it)."""
        for pattern, channel in self.channels:
            if fnmatch.fnmatchcase(topic, pattern):
                return pattern, channel
        return None
