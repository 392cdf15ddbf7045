"""The socket transport's protocol rules and limits, as a client sees them on a real server
(`socket_endpoint.py`, `connection.py`, `channel_server.py`; the limits are set in `connection.py`
and `channel_server.py`, which the tests patch to make them small). Unit tests of the pieces:
test_connection.py (writing to a slow client), test_eager.py, test_origin_check.py.

Most tests speak to the app's `/socket/websocket` (UserSocket, RoomChannel) through `live_url`.
The channel-crash and slow-channel tests need a channel that misbehaves on demand: `probe_url`
serves a tiny app whose socket routes `probe:*` to `ProbeChannel`, through the same transport.

`live_url` runs uvicorn with `ws_max_size` = 1 MiB, so the 64 KB limit seen here is the
transport's own check, not uvicorn's.

A test whose client misbehaves keeps a second, well-behaved client (`bystander`) answered through
it, and ends by showing that a fresh client can connect, join and ping (`assert_serving`). The
autouse `no_crashed_socket` fixture fails any test in which a socket's ASGI task crashed (uvicorn
logs "Exception in ASGI application" then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import websockets

from my_app import application, chat, pubsub
from my_app.config import Settings
from my_app.pubsub import node as pubsub_node
from my_app_web.channels import channel_server, connection
from my_app_web.channels.channel import Channel, ChannelSocket, Refuse, Reply
from my_app_web.channels.socket_handler import SocketHandler
from my_app_web.endpoint import Endpoint
from tests.support.channel_case import RECEIVE_TIMEOUT, PhoenixClient, connect, serving, token_for
from tests.support.fixtures.accounts import user_fixture

LOBBY = "room:lobby"
OK_EMPTY = {"status": "ok", "response": {}}


def error(reason: str) -> dict[str, Any]:
    return {"status": "error", "response": {"reason": reason}}


@pytest.fixture(autouse=True)
def no_crashed_socket(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No socket's ASGI task may crash, whatever its client sent."""
    caplog.set_level(logging.INFO)
    yield
    crashed = [r.getMessage() for r in caplog.records if r.name == "uvicorn.error" and r.levelno >= logging.ERROR]
    assert crashed == []


@pytest.fixture
async def token(settings: Settings, live_url: str) -> str:
    return await token_for(settings, await user_fixture())


# --- Helpers ---


async def close_of(ws: websockets.ClientConnection, within: float = RECEIVE_TIMEOUT) -> tuple[int, str]:
    """Read (and drop) whatever is left until the server closes; its close code and reason."""

    async def drain() -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _ in ws:
                pass

    await asyncio.wait_for(drain(), within)
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


async def ping(client: PhoenixClient, topic: str = LOBBY, n: int = 1) -> dict[str, Any]:
    """The reply payload to a `ping` push."""
    ref = await client.push(topic, "ping", {"n": n})
    payload: dict[str, Any] = (await client.reply(ref))[4]
    return payload


async def assert_serving(url: str, token: str | None, topic: str = LOBBY) -> None:
    """A fresh client connects, joins and gets its ping answered."""
    async with connect(url, token) as fresh:
        assert (await fresh.join(topic))[4]["status"] == "ok"
        assert await ping(fresh, topic, 99) == {"status": "ok", "response": {"pong": True, "n": 99}}


@contextlib.asynccontextmanager
async def bystander(url: str, token: str | None, topic: str = LOBBY) -> AsyncIterator[PhoenixClient]:
    """Another socket, joined and answered before the test misbehaves and still answered after."""
    async with connect(url, token) as other:
        assert (await other.join(topic))[4]["status"] == "ok"
        assert (await ping(other, topic))["status"] == "ok"
        yield other
        assert (await ping(other, topic, 2))["status"] == "ok"


def record_closes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Every `Connection.close(code, reason)` the server decides on, in order."""
    closes: list[tuple[int, str]] = []
    close = connection.Connection.close

    def recording(self: connection.Connection, code: int, reason: str) -> None:
        closes.append((code, reason))
        close(self, code, reason)

    monkeypatch.setattr(connection.Connection, "close", recording)
    return closes


# --- A channel that misbehaves on demand ---


class ProbeChannel(Channel):
    """`probe:*`: joins anyone; `boom` raises; `wait` holds the channel until `gate` is set;
    `stubborn` waits forever but swallows the first cancellation (as `asyncio.wait_for` does on
    Python 3.11 when what it awaits finishes just as it is cancelled); `terminated` gets each topic
    whose channel terminated."""

    gate: asyncio.Event | None = None
    waiting: asyncio.Event | None = None  # set once a `wait` has started
    terminated: asyncio.Queue[str] | None = None

    async def join(self, topic: str, payload: dict[str, Any], socket: ChannelSocket) -> dict[str, Any] | None:
        if payload.get("crash"):
            raise RuntimeError("join crashed on purpose")
        if payload.get("crash_after_join"):
            socket.send_info("crash")
        if payload.get("info_then_wait"):
            socket.send_info("hello")
            # A join that waits on something (a query, say), as the behaviour under test: the info it
            # sent itself must still wait for the join's end.
            await asyncio.sleep(0.05)
        if payload.get("info_then_refuse"):
            socket.send_info("hello")
            raise Refuse({"reason": "refused after sending itself a message"})
        return {"joined": topic}

    async def handle_info(self, message: Any, socket: ChannelSocket) -> None:
        if message == "crash":
            raise RuntimeError("handle_info crashed on purpose")
        if message == "hello":
            await socket.push("hello", {"from": "handle_info"})

    async def handle_in(self, event: str, payload: dict[str, Any], socket: ChannelSocket) -> Reply | None:
        if event == "boom":
            raise RuntimeError("handle_in crashed on purpose")
        if event == "wait":
            assert ProbeChannel.gate is not None
            assert ProbeChannel.waiting is not None
            ProbeChannel.waiting.set()
            await ProbeChannel.gate.wait()
            return Reply.ok({"waited": True})
        if event == "stubborn":
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
            return None
        if event == "stray_cancel":
            cancelled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            cancelled.cancel()  # cancelled by someone else: not this channel being stopped
            await cancelled
        if event == "ping":
            return Reply.ok({"pong": True, "n": payload.get("n")})
        return Reply.error({"reason": "unknown event"})

    async def terminate(self, reason: str, socket: ChannelSocket) -> None:
        assert ProbeChannel.terminated is not None
        ProbeChannel.terminated.put_nowait(socket.topic)


class ProbeSocket(SocketHandler):
    """Anyone connects, except with `crash=1` (the socket module fails, as when the database is down)."""

    channels = (("probe:*", ProbeChannel),)

    async def connect(self, params: dict[str, str], connect_info: dict[str, Any]) -> dict[str, Any] | None:
        if params.get("crash"):
            raise RuntimeError("connect crashed on purpose")
        return {}


@pytest.fixture
async def probe_url(started_app: application.Application, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setattr(ProbeChannel, "gate", asyncio.Event())
    monkeypatch.setattr(ProbeChannel, "waiting", asyncio.Event())
    monkeypatch.setattr(ProbeChannel, "terminated", asyncio.Queue())
    app = Endpoint()
    app.socket("/socket", ProbeSocket())
    async with serving(app) as url:
        yield url


# --- Protocol versions ---


async def test_vsn_2_speaks_arrays(live_url: str, token: str) -> None:
    async with connect(live_url, token) as client:
        await client.connection.send('[null, "1", "phoenix", "heartbeat", {}]')
        assert orjson.loads(await client.connection.recv()) == [None, "1", "phoenix", "phx_reply", OK_EMPTY]
        await client.connection.send('["2", "2", "room:lobby", "phx_join", {}]')
        assert await client.reply("2") == ["2", "2", LOBBY, "phx_reply", OK_EMPTY]
        await client.connection.send('["2", "3", "room:lobby", "ping", {"n": 5}]')
        assert await client.reply("3") == [
            "2",
            "3",
            LOBBY,
            "phx_reply",
            {"status": "ok", "response": {"pong": True, "n": 5}},
        ]


async def next_object(ws: websockets.ClientConnection, **expected: Any) -> dict[str, Any]:
    """The next V1 message whose fields include `expected` (others are skipped)."""
    async with asyncio.timeout(RECEIVE_TIMEOUT):
        while True:
            message = orjson.loads(await ws.recv())
            assert isinstance(message, dict), message
            if expected.items() <= message.items():
                return message


@pytest.mark.parametrize("vsn", ["vsn=1.0.0&", ""], ids=["vsn=1.0.0", "no vsn"])
async def test_a_v1_client_heartbeats_joins_and_pings_with_objects(live_url: str, token: str, vsn: str) -> None:
    async with websockets.connect(f"{live_url}/socket/websocket?{vsn}token={token}") as v1:
        await v1.send(orjson.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "1"}).decode())
        assert orjson.loads(await v1.recv()) == {
            "join_ref": None,
            "ref": "1",
            "topic": "phoenix",
            "event": "phx_reply",
            "payload": OK_EMPTY,
        }
        # 1.x clients send no join_ref.
        await v1.send(orjson.dumps({"topic": LOBBY, "event": "phx_join", "payload": {}, "ref": "2"}).decode())
        joined = await next_object(v1, ref="2")
        assert joined == {"join_ref": None, "ref": "2", "topic": LOBBY, "event": "phx_reply", "payload": OK_EMPTY}
        state = await next_object(v1, event="presence_state")
        assert state["topic"] == LOBBY
        assert len(state["payload"]) == 1
        await v1.send(orjson.dumps({"topic": LOBBY, "event": "ping", "payload": {"n": 3}, "ref": "3"}).decode())
        pong = await next_object(v1, ref="3")
        assert pong["payload"] == {"status": "ok", "response": {"pong": True, "n": 3}}
        # A malformed object with a ref and topic gets an error reply, as an object.
        await v1.send(orjson.dumps({"topic": LOBBY, "event": "ping", "payload": [1], "ref": "4"}).decode())
        assert (await next_object(v1, ref="4"))["payload"] == error("payload must be an object")
        # An array is not a V1 message: nothing to answer, so the socket closes.
        await v1.send('[null, "5", "room:lobby", "ping", {}]')
        code, reason = await close_of(v1)
        assert (code, reason) == (1003, "malformed message: frames must be objects with topic, event, payload and ref")
    await assert_serving(live_url, token)


@pytest.mark.parametrize("vsn", ["3.0.0", "0.1.0", "two"])
async def test_an_unknown_vsn_is_refused_at_the_handshake(live_url: str, token: str, vsn: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{live_url}/socket/websocket?vsn={vsn}&token={token}"):
            pass
    assert refused.value.response.status_code == 403
    await assert_serving(live_url, token)


async def test_a_socket_module_that_fails_at_connect_answers_500_not_403(
    probe_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(websockets.InvalidStatus) as failed:
        async with websockets.connect(f"{probe_url}/socket/websocket?vsn=2.0.0&crash=1"):
            pass
    assert failed.value.response.status_code == 500
    assert failed.value.response.body == b"Internal Server Error"  # no traceback leaks
    assert "connect crashed on purpose" in caplog.text  # it is logged instead
    await assert_serving(probe_url, None, "probe:a")


# --- Malformed frames ---


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("this is not json", "frames must be JSON"),
        ('["1", "2", "room:lobby", "ping", {}', "frames must be JSON"),
        (
            '{"topic": "room:lobby", "event": "ping", "payload": {}, "ref": "2"}',
            "frames must be [join_ref, ref, topic, event, payload]",
        ),
        ('"room:lobby"', "frames must be [join_ref, ref, topic, event, payload]"),
        ('["1", "2", "room:lobby", "ping"]', "frames must be [join_ref, ref, topic, event, payload]"),
        ('["1", "2", "room:lobby", "ping", {}, {}]', "frames must be [join_ref, ref, topic, event, payload]"),
        ('["1", "2", 42, "ping", {}]', "topic and event must be non-empty strings"),
        ('["1", "2", null, "ping", {}]', "topic and event must be non-empty strings"),
        ('["1", {"ref": 2}, "room:lobby", "ping", {}]', "refs must be strings or null"),
        ('[null, null, "room:lobby", "ping", "payload"]', "payload must be an object"),
    ],
    ids=[
        "not json",
        "truncated json",
        "object",
        "string",
        "four fields",
        "six fields",
        "numeric topic",
        "null topic",
        "object ref",
        "no ref, string payload",
    ],
)
async def test_a_malformed_frame_without_a_ref_and_topic_closes_with_1003(
    live_url: str, token: str, frame: str, reason: str
) -> None:
    async with bystander(live_url, token), connect(live_url, token) as client:
        await client.join(LOBBY)
        await client.connection.send(frame)
        assert await close_of(client.connection) == (1003, f"malformed message: {reason}")
    await assert_serving(live_url, token)


@pytest.mark.parametrize(
    ("fields", "reason", "join_ref"),
    [
        (["J", "R", LOBBY, "ping", "not an object"], "payload must be an object", "J"),
        (["J", "R", LOBBY, "ping", [1, 2]], "payload must be an object", "J"),
        (["J", "R", LOBBY, "ping", None], "payload must be an object", "J"),
        (["J", "R", LOBBY, 7, {}], "topic and event must be non-empty strings", "J"),
        (["J", "R", LOBBY, "", {}], "topic and event must be non-empty strings", "J"),
        ([["J"], "R", LOBBY, "ping", {}], "refs must be strings or null", None),
    ],
    ids=["string payload", "array payload", "null payload", "numeric event", "empty event", "array join_ref"],
)
async def test_a_malformed_frame_with_a_ref_and_topic_gets_an_error_reply(
    live_url: str, token: str, fields: list[Any], reason: str, join_ref: str | None
) -> None:
    async with bystander(live_url, token), connect(live_url, token) as client:
        await client.join(LOBBY)
        await client.connection.send(orjson.dumps(fields).decode())
        assert await client.reply("R") == [join_ref, "R", LOBBY, "phx_reply", error(reason)]
        # The socket and its channel carry on.
        assert (await ping(client))["status"] == "ok"
    await assert_serving(live_url, token)


# --- Frame types and sizes ---


async def test_a_binary_frame_closes_with_1003(live_url: str, token: str) -> None:
    async with bystander(live_url, token), connect(live_url, token) as client:
        await client.join(LOBBY)
        await client.connection.send(b'[null, "1", "phoenix", "heartbeat", {}]')
        assert await close_of(client.connection) == (1003, "binary frames are not supported")
    await assert_serving(live_url, token)


def ping_frame(ref: str, size: int, pad: str = "x") -> str:
    """A `ping` push to the lobby of exactly `size` bytes of UTF-8."""
    empty = orjson.dumps([None, ref, LOBBY, "ping", {"n": 1, "pad": ""}]).decode()
    room = size - len(empty.encode())
    assert room >= 0
    unit = len(pad.encode())
    padding = pad * (room // unit) + "x" * (room % unit)
    frame = orjson.dumps([None, ref, LOBBY, "ping", {"n": 1, "pad": padding}]).decode()
    assert len(frame.encode()) == size
    return frame


async def test_a_frame_of_64_kb_is_handled_and_one_byte_more_closes_with_1009(live_url: str, token: str) -> None:
    assert connection.MAX_FRAME_BYTES == 64 * 1024
    async with bystander(live_url, token), connect(live_url, token) as client:
        await client.join(LOBBY)
        await client.connection.send(ping_frame("1", connection.MAX_FRAME_BYTES - 1))
        assert (await client.reply("1"))[4] == {"status": "ok", "response": {"pong": True, "n": 1}}
        await client.connection.send(ping_frame("2", connection.MAX_FRAME_BYTES))
        assert (await client.reply("2"))[4] == {"status": "ok", "response": {"pong": True, "n": 1}}
        await client.connection.send(ping_frame("3", connection.MAX_FRAME_BYTES + 1))
        assert await close_of(client.connection) == (1009, "frames are limited to 65536 bytes")
    await assert_serving(live_url, token)


async def test_the_frame_limit_counts_bytes_not_characters(live_url: str, token: str) -> None:
    # 2-byte characters: under 64 K characters, over 64 KB.
    frame = ping_frame("1", connection.MAX_FRAME_BYTES + 2000, pad="é")
    assert len(frame) < connection.MAX_FRAME_BYTES
    async with connect(live_url, token) as client:
        await client.join(LOBBY)
        await client.connection.send(frame)
        assert await close_of(client.connection) == (1009, "frames are limited to 65536 bytes")
    await assert_serving(live_url, token)


# --- Topics, join refs and leaves ---


async def test_a_push_to_a_topic_not_joined_is_an_unmatched_topic(live_url: str, token: str) -> None:
    async with connect(live_url, token) as client:
        await client.send(None, "1", "room:nowhere", "ping", {"n": 1})
        assert await client.reply("1") == [None, "1", "room:nowhere", "phx_reply", error("unmatched topic")]
        await client.send("5", "2", LOBBY, "ping", {"n": 1})
        assert await client.reply("2") == ["5", "2", LOBBY, "phx_reply", error("unmatched topic")]
        # Nor does a topic no channel serves become joinable by pushing to it.
        assert (await client.join("nothing:here"))[4] == error("unmatched topic")
        assert (await ping(client, "nothing:here"))["response"] == {"reason": "unmatched topic"}


async def test_a_push_with_a_stale_join_ref_after_a_rejoin_is_unmatched(live_url: str, token: str) -> None:
    async with connect(live_url, token) as client:
        old = (await client.join(LOBBY))[0]
        new = (await client.join(LOBBY))[0]
        assert old != new
        await client.send(old, "s1", LOBBY, "ping", {"n": 1})
        assert await client.reply("s1") == [old, "s1", LOBBY, "phx_reply", error("unmatched topic")]
        await client.send(new, "s2", LOBBY, "ping", {"n": 2})
        assert await client.reply("s2") == [
            new,
            "s2",
            LOBBY,
            "phx_reply",
            {"status": "ok", "response": {"pong": True, "n": 2}},
        ]
        # A message without a join_ref (a 1.x client) goes to the current channel.
        await client.send(None, "s3", LOBBY, "ping", {"n": 3})
        assert (await client.reply("s3"))[4]["status"] == "ok"


async def test_leaving_a_topic_not_joined_is_answered_without_harm(live_url: str, token: str) -> None:
    # Phoenix answers a leave of a topic the socket has no channel for with ok (the JS client then
    # closes its channel, e.g. one whose join was refused); nothing else happens.
    async with connect(live_url, token) as client:
        await client.send("1", "1", "room:nowhere", "phx_leave", {})
        assert await client.reply("1") == ["1", "1", "room:nowhere", "phx_reply", OK_EMPTY]
        assert (await client.join("room:secret"))[4] == error("unauthorized")
        ref = await client.push("room:secret", "phx_leave")
        assert (await client.reply(ref))[4] == OK_EMPTY
        # The socket is fine.
        assert (await client.join(LOBBY))[4] == OK_EMPTY
        assert (await ping(client))["status"] == "ok"


async def test_a_leave_with_a_stale_join_ref_does_not_close_the_current_channel(live_url: str, token: str) -> None:
    async with connect(live_url, token) as client:
        old = (await client.join(LOBBY))[0]
        new = (await client.join(LOBBY))[0]
        await client.send(old, "L", LOBBY, "phx_leave", {})
        assert await client.reply("L") == [old, "L", LOBBY, "phx_reply", OK_EMPTY]
        # The channel joined with `new` is still there, and was not closed.
        assert await ping(client, n=4) == {"status": "ok", "response": {"pong": True, "n": 4}}
        with pytest.raises(TimeoutError):
            await client.next_where(lambda m: m[3] == "phx_close" and m[0] == new, within=0.3)


# --- Join floods ---


async def test_joining_more_than_max_channels_topics_is_refused(
    live_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "MAX_CHANNELS", 3)
    user = await user_fixture()
    for slug in ("one", "two", "three"):
        await chat.add_member(await chat.create_room({"slug": slug, "name": slug}), user)
    token = await token_for(settings, user)
    async with connect(live_url, token) as client, connect(live_url, token) as other:
        # Refused and unmatched joins take no slot.
        assert (await client.join("room:secret"))[4] == error("unauthorized")
        for n in range(5):
            assert (await client.join(f"flood:{n}"))[4] == error("unmatched topic")
        for topic in (LOBBY, "room:one", "room:two"):
            assert (await client.join(topic))[4] == OK_EMPTY
        for _ in range(3):
            assert (await client.join("room:three"))[4] == error("too many channels")
        # The refused topic is not joined; the others still work.
        assert (await ping(client, "room:three"))["response"] == {"reason": "unmatched topic"}
        assert (await ping(client, "room:two"))["status"] == "ok"
        # Joining a topic again replaces its channel: no new slot needed.
        assert (await client.join("room:one"))[4] == OK_EMPTY
        # Leaving frees a slot.
        ref = await client.push("room:two", "phx_leave")
        assert (await client.reply(ref))[4] == OK_EMPTY
        assert (await client.join("room:three"))[4] == OK_EMPTY
        assert (await ping(client, "room:three"))["status"] == "ok"
        # The limit is per socket.
        for topic in ("room:three", "room:two", "room:one"):
            assert (await other.join(topic))[4] == OK_EMPTY
    await assert_serving(live_url, token)


# --- Message rates ---


async def test_a_client_over_the_rate_is_refused_then_closed_with_1008(
    live_url: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "RATE_PER_SECOND", 0.001)  # no refill within the test
    monkeypatch.setattr(connection, "RATE_BURST", 5.0)
    monkeypatch.setattr(connection, "FLOOD_CLOSE_AFTER", 4)
    async with bystander(live_url, token), connect(live_url, token) as flooder:
        await flooder.join(LOBBY)  # 1 of the burst of 5
        for n in range(4):
            assert (await ping(flooder, n=n))["status"] == "ok"
        join_ref = flooder.join_refs[LOBBY]
        for n in range(3):
            ref = await flooder.push(LOBBY, "ping", {"n": n})
            assert await flooder.reply(ref) == [join_ref, ref, LOBBY, "phx_reply", error("rate limited")]
        # Joins count too; heartbeats do not (a limited client must not be taken for a dead one).
        await flooder.send(None, "hb", "phoenix", "heartbeat", {})
        assert (await flooder.reply("hb"))[4] == OK_EMPTY
        await flooder.push(LOBBY, "ping", {"n": 9})
        assert await close_of(flooder.connection) == (1008, "rate limit exceeded")
    await assert_serving(live_url, token)


async def test_the_rate_refills_over_time(live_url: str, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "RATE_PER_SECOND", 5.0)
    monkeypatch.setattr(connection, "RATE_BURST", 1.0)
    async with connect(live_url, token) as client:
        await client.join(LOBBY)
        refs = [await client.push(LOBBY, "ping", {"n": n}) for n in range(3)]
        statuses = [(await client.reply(ref))[4] for ref in refs]
        # Three at once against one token a fifth of a second: at most one gets through.
        assert statuses.count(error("rate limited")) >= 2
        # Waiting out the refill is the behaviour under test: 0.3 s at 5 a second is one token again.
        await asyncio.sleep(0.3)
        assert (await ping(client))["status"] == "ok"


async def test_malformed_frames_count_against_the_rate(
    live_url: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "RATE_PER_SECOND", 0.001)
    monkeypatch.setattr(connection, "RATE_BURST", 3.0)  # the bystander's join and two pings fit too
    monkeypatch.setattr(connection, "FLOOD_CLOSE_AFTER", 3)
    async with bystander(live_url, token), connect(live_url, token) as flooder:
        replies = []
        for n in range(5):
            await flooder.send(None, f"m{n}", LOBBY, "ping", "not an object")
            replies.append((await flooder.reply(f"m{n}"))[4])
        assert replies == [error("payload must be an object")] * 3 + [error("rate limited")] * 2
        await flooder.send(None, "m9", LOBBY, "ping", "not an object")
        assert await close_of(flooder.connection) == (1008, "rate limit exceeded")
    await assert_serving(live_url, token)


# --- Heartbeats ---


async def test_an_idle_client_is_closed_with_1001_and_a_heartbeating_one_stays(
    live_url: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "HEARTBEAT_TIMEOUT", 1.0)
    async with connect(live_url, token) as idle, connect(live_url, token) as alive:
        await idle.join(LOBBY)
        await alive.join(LOBBY)
        loop = asyncio.get_running_loop()
        started = loop.time()
        n = 0
        # `alive` heartbeats every 0.1 s (its cadence is the behaviour under test) until the idle
        # client has been closed and `alive` has outlived the timeout twice over.
        while idle.connection.close_code is None or loop.time() - started < 2 * connection.HEARTBEAT_TIMEOUT:
            assert loop.time() - started < RECEIVE_TIMEOUT, "the idle client was never closed"
            n += 1
            await alive.send(None, f"hb{n}", "phoenix", "heartbeat", {})
            assert (await alive.reply(f"hb{n}"))[4] == OK_EMPTY
            await asyncio.sleep(0.1)
        assert await close_of(idle.connection) == (1001, "heartbeat timeout")
        assert (await ping(alive))["status"] == "ok"
    await assert_serving(live_url, token)


# --- Channel crashes ---


async def test_a_crash_in_handle_in_sends_phx_error_and_the_socket_stays_usable(probe_url: str) -> None:
    async with bystander(probe_url, None, "probe:other"), connect(probe_url) as client:
        join_ref = (await client.join("probe:a"))[0]
        assert (await client.join("probe:b"))[4] == {"status": "ok", "response": {"joined": "probe:b"}}
        await client.push("probe:a", "boom")
        assert await client.next_event("phx_error") == [join_ref, join_ref, "probe:a", "phx_error", {}]
        # The crashed channel is gone; the socket and its other channels are not.
        assert (await ping(client, "probe:a"))["response"] == {"reason": "unmatched topic"}
        assert await ping(client, "probe:b", 3) == {"status": "ok", "response": {"pong": True, "n": 3}}
        # The client rejoins, as the JS client does after phx_error.
        rejoined = await client.join("probe:a")
        assert rejoined[4] == {"status": "ok", "response": {"joined": "probe:a"}}
        assert rejoined[0] != join_ref
        assert (await ping(client, "probe:a"))["status"] == "ok"
    await assert_serving(probe_url, None, "probe:c")


async def test_what_join_sends_itself_is_handled_after_the_join_reply(probe_url: str) -> None:
    async with connect(probe_url) as client:
        await client.send("1", "1", "probe:a", "phx_join", {"info_then_wait": True})
        first, second = await client.receive(), await client.receive()
        assert first == ["1", "1", "probe:a", "phx_reply", {"status": "ok", "response": {"joined": "probe:a"}}]
        assert second == ["1", None, "probe:a", "hello", {"from": "handle_info"}]
        assert (await ping(client, "probe:a"))["status"] == "ok"


async def test_what_a_refused_join_sent_itself_is_never_handled(probe_url: str) -> None:
    async with connect(probe_url) as client:
        await client.send("1", "1", "probe:a", "phx_join", {"info_then_refuse": True})
        assert await client.receive() == [
            "1",
            "1",
            "probe:a",
            "phx_reply",
            {"status": "error", "response": {"reason": "refused after sending itself a message"}},
        ]
        assert (await ping(client, "probe:a"))["response"] == {"reason": "unmatched topic"}
        assert pubsub.subscriber_count("probe:a") == 0
        with pytest.raises(TimeoutError):  # no "hello" ever comes
            await client.next_event("hello", within=0.3)


async def test_a_cancellation_inside_channel_code_crashes_the_channel_and_nothing_waits_behind_it(
    probe_url: str,
) -> None:
    async with connect(probe_url) as client:
        join_ref = (await client.join("probe:a"))[0]
        await client.push("probe:a", "stray_cancel")
        assert await client.next_event("phx_error") == [join_ref, join_ref, "probe:a", "phx_error", {}]
        assert pubsub.subscriber_count("probe:a") == 0
        assert (await client.join("probe:a"))[4]["status"] == "ok"
        assert (await ping(client, "probe:a"))["status"] == "ok"


async def test_a_broadcast_that_cannot_be_encoded_crashes_the_idle_channels_that_get_it(probe_url: str) -> None:
    async with connect(probe_url) as client:
        join_ref = (await client.join("probe:a"))[0]
        pubsub.local_broadcast("probe:a", "odd", {"not json": {1, 2}})  # local: never checked as JSON
        assert await client.next_event("phx_error") == [join_ref, join_ref, "probe:a", "phx_error", {}]
        assert (await client.join("probe:a"))[4]["status"] == "ok"
        pubsub.local_broadcast("probe:a", "fine", {"n": 1})
        assert (await client.next_event("fine"))[4] == {"n": 1}


async def test_a_crash_after_join_sends_phx_error(probe_url: str) -> None:
    async with connect(probe_url) as client:
        joined = await client.join("probe:a", {"crash_after_join": True})
        assert joined[4]["status"] == "ok"
        assert await client.next_event("phx_error") == [joined[0], joined[0], "probe:a", "phx_error", {}]
        assert (await client.join("probe:a"))[4]["status"] == "ok"
        assert (await ping(client, "probe:a"))["status"] == "ok"


async def test_a_channel_that_swallows_its_cancellation_does_not_stall_the_socket_cleanup(probe_url: str) -> None:
    async with connect(probe_url) as client:
        for topic in ("probe:stubborn", "probe:other"):
            await client.join(topic)
        await client.push("probe:stubborn", "stubborn")
        assert (await ping(client, "probe:other"))["status"] == "ok"
    # The client is gone: every channel of its socket terminates all the same.
    assert ProbeChannel.terminated is not None
    async with asyncio.timeout(RECEIVE_TIMEOUT):
        terminated = {await ProbeChannel.terminated.get() for _ in range(2)}
    assert terminated == {"probe:stubborn", "probe:other"}
    await assert_serving(probe_url, None, "probe:again")


async def test_a_join_that_raises_gets_join_crashed(probe_url: str) -> None:
    async with connect(probe_url) as client:
        assert (await client.join("probe:a", {"crash": True}))[4] == error("join crashed")
        assert (await ping(client, "probe:a"))["response"] == {"reason": "unmatched topic"}
        assert (await client.join("probe:a"))[4] == {"status": "ok", "response": {"joined": "probe:a"}}
        assert (await ping(client, "probe:a"))["status"] == "ok"
    await assert_serving(probe_url, None, "probe:b")


# --- Slow subscribers and slow clients ---


async def test_a_burst_of_broadcasts_reaches_an_idle_channel_whole_and_in_order(
    live_url: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Smaller bounds than the burst: an idle channel's broadcasts go straight to its socket (the
    # fastlane), so neither a PubSub queue nor the channel's backlog can overflow.
    monkeypatch.setattr(pubsub_node, "DEFAULT_MAXSIZE", 4)
    monkeypatch.setattr(channel_server, "CHANNEL_BACKLOG", 4)
    async with connect(live_url, token, max_queue=None) as client, connect(live_url, token) as other:
        await client.join(LOBBY)
        await client.next_event("presence_state")
        await other.join(LOBBY)
        await client.next_where(lambda m: m[3] == "presence_diff")
        for n in range(500):  # all at once: no socket gets to run in between
            pubsub.local_broadcast(LOBBY, "burst", {"n": n})
        for n in range(500):
            assert (await client.next_event("burst"))[4] == {"n": n}
        for n in range(500):
            assert (await other.next_event("burst"))[4] == {"n": n}
        assert (await ping(client))["status"] == "ok"
    await assert_serving(live_url, token)


async def test_a_channel_too_busy_for_its_broadcasts_gets_phx_error(
    probe_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel_server, "CHANNEL_BACKLOG", 4)
    sent = 200
    async with connect(probe_url) as client:
        join_ref = (await client.join("probe:busy"))[0]
        ref = await client.push("probe:busy", "wait")
        assert ProbeChannel.waiting is not None
        await asyncio.wait_for(ProbeChannel.waiting.wait(), RECEIVE_TIMEOUT)  # stuck in handle_in
        for n in range(sent):
            pubsub.local_broadcast("probe:busy", "tick", {"n": n})
            await asyncio.sleep(0)  # one at a time: the socket's tasks run in between
        assert ProbeChannel.gate is not None
        ProbeChannel.gate.set()
        seen: list[list[Any]] = []
        while not seen or seen[-1][3] != "phx_error":
            seen.append(await client.receive())
        assert seen[0] == [join_ref, ref, "probe:busy", "phx_reply", {"status": "ok", "response": {"waited": True}}]
        ticks = [m[4]["n"] for m in seen if m[3] == "tick"]
        assert ticks == list(range(len(ticks)))
        assert len(ticks) < sent  # the backlog was bounded: the rest were dropped with the channel
        assert seen[-1] == [join_ref, join_ref, "probe:busy", "phx_error", {}]
        assert (await client.join("probe:busy"))[4]["status"] == "ok"
        pubsub.local_broadcast("probe:busy", "tick", {"n": -1})
        assert (await client.next_event("tick"))[4] == {"n": -1}
    await assert_serving(probe_url, None, "probe:other")


async def test_a_client_that_does_not_read_is_closed_with_1013(
    live_url: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "SEND_QUEUE_SIZE", 16)
    closes = record_closes(monkeypatch)
    # A small receive window and no compression, so that what the idle client leaves unread fills
    # the server's buffers (kernel and asyncio, a few MB) after a few hundred broadcasts.
    address = urlsplit(live_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (address.hostname, address.port))
    url = f"{live_url}/socket/websocket?vsn=2.0.0&token={token}"
    payload = {"data": "x" * 32_768}
    async with (
        websockets.connect(url, sock=sock, max_queue=1, compression=None) as idle,
        # The reading client buffers whatever its task has not taken yet (it shares the loop with
        # the flood), so that only the server's view of it matters.
        connect(live_url, token, max_queue=None) as reader,
    ):
        idle_client = PhoenixClient(idle)
        await idle_client.join(LOBBY)
        await reader.join(LOBBY)

        async def read_until_done() -> int:
            received = 0
            while (message := await reader.receive())[3] != "done":
                received += message[3] == "big"
            return received

        reading = asyncio.create_task(read_until_done())
        try:
            sent = 0
            async with asyncio.timeout(20):
                while not closes and sent < 5000:
                    pubsub.local_broadcast(LOBBY, "big", payload)
                    sent += 1
                    await asyncio.sleep(0.001)  # a pace, not a wait: the server and the reader run in between
            assert closes == [(1013, "the client is not reading fast enough")]
            pubsub.local_broadcast(LOBBY, "done", {})
            # The reading client got every broadcast, and is still served.
            received = await asyncio.wait_for(reading, RECEIVE_TIMEOUT)
        finally:
            reading.cancel()
        assert received == sent
        assert (await ping(reader))["status"] == "ok"
        # Once the idle client reads, it finds the close after what the server had sent it.
        assert await close_of(idle) == (1013, "the client is not reading fast enough")
    await assert_serving(live_url, token)


# --- After all of it ---


async def test_the_server_keeps_serving_after_every_kind_of_abuse(
    live_url: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "FLOOD_CLOSE_AFTER", 5)
    # No refill within the test: the joins wait on the database, and at 50 a second the bucket
    # refilled as fast as a slow run (a loaded machine) handled them, so the flood was never closed.
    monkeypatch.setattr(connection, "RATE_PER_SECOND", 0.001)
    monkeypatch.setattr(connection, "RATE_BURST", 10.0)
    monkeypatch.setattr(connection, "MAX_CHANNELS", 2)

    async def abuse(client: PhoenixClient, frames: list[str | bytes]) -> tuple[int, str]:
        for frame in frames:
            with contextlib.suppress(websockets.ConnectionClosed):
                await client.connection.send(frame)
        return await close_of(client.connection)

    heartbeat = '[null, "1", "phoenix", "heartbeat", {}]'
    floods: list[str | bytes] = [orjson.dumps([None, str(n), LOBBY, "ping", {}]).decode() for n in range(30)]
    joins: list[str | bytes] = [
        orjson.dumps([str(n), str(n), f"room:r{n}", "phx_join", {}]).decode() for n in range(30)
    ]
    abuses: list[list[str | bytes]] = [
        ["not json"],
        [heartbeat, b"\x00binary"],
        [ping_frame("1", connection.MAX_FRAME_BYTES + 1)],
        ["[1, 2, 3]", heartbeat],
        floods,
        joins,  # a join flood is a message flood too
    ]
    async with bystander(live_url, token), contextlib.AsyncExitStack() as stack:
        # Connected one at a time (the sockets share the test's one sandboxed database connection),
        # then all misbehaving at once.
        clients = [await stack.enter_async_context(connect(live_url, token)) for _ in abuses]
        results = await asyncio.gather(*(abuse(client, frames) for client, frames in zip(clients, abuses, strict=True)))
    assert [code for code, _ in results] == [1003, 1003, 1009, 1003, 1008, 1008]
    await assert_serving(live_url, token)
