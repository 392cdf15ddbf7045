"""The channel API (Phoenix.Channel): one class per kind of topic, one instance per joined topic.

    class RoomChannel(Channel):
        async def join(self, topic, payload, socket):
            if not allowed(socket.assigns["user"], topic):
                raise Refuse({"reason": "unauthorized"})
            return {}                                   # {:ok, reply, socket}

        async def handle_in(self, event, payload, socket):
            if event == "ping":
                return Reply.ok({"pong": True})          # {:reply, {:ok, map}, socket}
            await socket.broadcast("new_msg", payload)   # {:noreply, socket}
            return None

An instance handles one message at a time, like a channel process: `handle_in` (from the client),
`handle_info` (anything sent to it, e.g. through `ChannelSocket.send_info`), then `terminate`. An
exception in a callback crashes only this channel: the client gets `phx_error` and rejoins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from my_app import pubsub

# What a channel pushes to its client: a JSON object, or one already encoded (shared by many pushes).
PushPayload = dict[str, Any] | orjson.Fragment


class Refuse(Exception):  # noqa: N818 - Phoenix's {:error, reply} from join
    """Raised by `join` to refuse it; `response` goes to the client (e.g. `{"reason": "unauthorized"}`)."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(response)
        self.response = response


@dataclass(frozen=True)
class Reply:
    """The answer to a client push: `{:reply, {status, payload}, socket}`."""

    status: Literal["ok", "error"]
    response: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, response: dict[str, Any] | None = None) -> Reply:
        return cls("ok", response or {})

    @classmethod
    def error(cls, response: dict[str, Any] | None = None) -> Reply:
        return cls("error", response or {})


class ChannelProcess(Protocol):
    """What runs a joined channel (`channel_server.ChannelServer`): where pushes and info go."""

    async def push(self, event: str, payload: PushPayload) -> None: ...

    def send_info(self, message: Any) -> None: ...


class ChannelSocket:
    """What a channel sees of its connection: the topic, assigns, and ways to talk back."""

    __slots__ = ("_process", "assigns", "join_ref", "owner", "topic")

    def __init__(
        self, *, topic: str, join_ref: str | None, assigns: dict[str, Any], owner: str, process: ChannelProcess
    ) -> None:
        self.topic = topic
        self.join_ref = join_ref
        # Copied from the connection's assigns at join; the channel may add its own.
        self.assigns = assigns
        self.owner = owner  # the subscription owner id: broadcast_from skips it
        self._process = process

    async def push(self, event: str, payload: PushPayload) -> None:
        """Send a message to this client only (`payload`: an object, or an `orjson.Fragment` of one)."""
        await self._process.push(event, payload)

    async def broadcast(self, event: str, payload: dict[str, Any]) -> None:
        """Send to every subscriber of the topic, on every node, this client included."""
        await pubsub.broadcast(self.topic, event, payload)

    async def broadcast_from(self, event: str, payload: dict[str, Any]) -> None:
        """Send to every subscriber of the topic but this client."""
        await pubsub.broadcast_from(self.owner, self.topic, event, payload)

    def send_info(self, message: Any) -> None:
        """Queue `message` for this channel's `handle_info` (Phoenix's `send(self(), msg)`)."""
        self._process.send_info(message)


class Channel:
    """Subclass and override the callbacks you need."""

    async def join(self, topic: str, payload: dict[str, Any], socket: ChannelSocket) -> dict[str, Any] | None:
        """Authorize the join; return the reply payload, or raise `Refuse`."""
        raise Refuse({"reason": "unauthorized"})

    async def after_join(self, socket: ChannelSocket) -> None:
        """Runs once the join reply is sent (Phoenix's `send(self(), :after_join)`)."""

    async def handle_in(self, event: str, payload: dict[str, Any], socket: ChannelSocket) -> Reply | None:
        """A push from the client; return a `Reply`, or None for no reply."""
        return Reply.error({"reason": "unknown event"})

    async def handle_out(self, message: pubsub.Message, socket: ChannelSocket) -> dict[str, Any] | None:
        """A broadcast on the topic, before it goes to the client: the payload to push, or None to skip it."""
        return message.payload if isinstance(message.payload, dict) else {"data": message.payload}

    async def handle_info(self, message: Any, socket: ChannelSocket) -> None:
        """Anything sent with `socket.send_info`."""

    async def terminate(self, reason: str, socket: ChannelSocket) -> None:
        """The channel is going away (left, replaced, closed, crashed)."""
