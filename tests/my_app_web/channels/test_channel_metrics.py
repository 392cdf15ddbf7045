"""The socket layer's metrics: sockets connected (however they end), channel joins by channel and
result, presences tracked by this node, and the broadcasts a slow client or a busy channel never got."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import Any

import pytest

from my_app import chat, metrics, pubsub
from my_app.config import Settings
from my_app_web.channels import channel_server, connection
from my_app_web.channels.channel import Channel, Reply
from my_app_web.channels.channel_server import ChannelServer
from my_app_web.channels.serializer import Frame, V2Serializer
from my_app_web.channels.socket_handler import SocketHandler
from tests.support.channel_case import connect, token_for
from tests.support.fixtures.accounts import user_fixture
from tests.support.pubsub import eventually


def sample(name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def sockets() -> float:
    return sample("sockets_connected")


def joins(channel: str, result: str) -> float:
    return sample("channel_joins_total", channel=channel, result=result)


def dropped(reason: str) -> float:
    return sample("pubsub_dropped_messages_total", reason=reason)


async def test_a_socket_counts_while_connected_and_an_abrupt_end_takes_it_and_its_presence_away(
    live_url: str, settings: Settings
) -> None:
    user = await user_fixture()
    connected, tracked = sockets(), sample("presences_tracked")

    with contextlib.suppress(Exception):  # the client's own close fails: its transport is gone
        async with connect(live_url, await token_for(settings, user)) as client:
            await client.join("room:lobby")
            await client.next_event("presence_state", "room:lobby")
            assert sockets() - connected == 1
            assert sample("presences_tracked") - tracked == 1

            client.connection.transport.abort()  # no close frame: the client just vanishes
            await eventually(lambda: sockets() == connected, "the socket to be counted gone")

    assert sockets() == connected
    await eventually(lambda: sample("presences_tracked") == tracked, "its presence to leave")


async def test_a_socket_refused_at_the_handshake_is_never_counted(live_url: str) -> None:
    connected = sockets()

    with pytest.raises(Exception, match="403"):
        async with connect(live_url, "not-a-token"):
            pass

    assert sockets() == connected


async def test_joins_are_counted_by_channel_and_result(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    await chat.create_room({"slug": "secret", "name": "Secret"})  # `user` is not a member
    ok, refused, unmatched = joins("room", "ok"), joins("room", "error"), joins("unmatched", "error")

    async with connect(live_url, await token_for(settings, user)) as client:
        assert (await client.join("room:lobby"))[4]["status"] == "ok"
        assert (await client.join("room:secret"))[4]["status"] == "error"
        assert (await client.join("nothing:here"))[4]["status"] == "error"

    assert joins("room", "ok") - ok == 1
    assert joins("room", "error") - refused == 1
    assert joins("unmatched", "error") - unmatched == 1
    assert sample("channel_joins_total", channel="room:lobby", result="ok") == 0  # the prefix, never the topic


def test_the_channel_label_is_the_patterns_prefix() -> None:
    assert connection.channel_label("room:*") == "room"
    assert connection.channel_label("*") == "*"


class _StuckClient:
    """An ASGI `send` that never returns: a client that reads nothing."""

    async def send(self, message: dict[str, Any]) -> None:
        await asyncio.Event().wait()


async def test_frames_a_client_too_slow_to_read_never_gets_are_counted_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection, "SEND_QUEUE_SIZE", 3)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.disconnect"}

    socket = connection.Connection({"type": "websocket"}, receive, _StuckClient().send, SocketHandler())  # type: ignore[arg-type]
    socket.serializer = V2Serializer()
    before = dropped("client_too_slow")
    message = pubsub.Message("room:lobby", "tick", {})
    try:
        for _ in range(5):  # one being written, three queued behind it, then one too many
            socket.send_broadcast("room:lobby", message)

        assert socket.closing == (1013, "the client is not reading fast enough")
        assert dropped("client_too_slow") - before == 4  # the three queued and the one refused
    finally:
        if socket.writer is not None:
            socket.writer.cancel()


class _Socket:
    """What a channel server needs of its socket, recording the frames it is given."""

    def __init__(self) -> None:
        self.assigns: dict[str, Any] = {}
        self.context = contextvars.copy_context()
        self.frames: list[Frame] = []

    def next_owner(self) -> str:
        return "owner"

    def send(self, frame: Frame) -> None:
        self.frames.append(frame)

    def send_broadcast(self, topic: str, message: pubsub.Message) -> None:
        self.frames.append(Frame(None, None, topic, message.event, message.payload))

    def reply(self, join_ref: str | None, ref: str | None, topic: str, reply: Reply) -> None:
        pass

    async def remove_channel(self, server: ChannelServer, *, reason: str, notify: bool) -> None:
        await server.stop(reason)


async def test_broadcasts_a_busy_channel_never_handles_are_counted_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel_server, "CHANNEL_BACKLOG", 4)
    server = ChannelServer(_Socket(), Channel(), "room:busy", "1")
    server.send_info("busy")  # before its join returns, what it is sent waits in its inbox
    before = dropped("channel_backlog")

    for n in range(6):
        server.deliver(pubsub.Message("room:busy", "tick", {"n": n}))

    # Three fit behind the info, the fourth finds the backlog full (the channel will crash), and
    # the two after it arrive at a channel waiting for its crash.
    assert server.overflowed
    assert dropped("channel_backlog") - before == 3
    await server.stop("closed")
