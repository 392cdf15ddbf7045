"""One WebSocket speaking the Phoenix protocol (Phoenix.Socket): handshake, heartbeats, limits, dispatch.

`SocketEndpoint` makes one `Connection` per WebSocket. It authenticates the handshake through the
socket module (`SocketHandler.connect`; a refusal is HTTP 403 before the upgrade, as Phoenix does;
a crash in it, such as the database being down, is HTTP 500), answers heartbeats on the `phoenix`
topic, routes `phx_join` to the channel class whose pattern matches the topic, and runs each
joined channel as a `ChannelServer` that handles one message at a time.

Built to hold tens of thousands of idle sockets per process: an idle socket has one task (the
ASGI one, reading), its channels and PubSub subscriptions none (callbacks instead), frames are
written without a task unless the client is slow (straight to uvicorn's transport, `wire.py`, or
`start_eagerly`), a frame many sockets get (a broadcast, a presence_state) is encoded once, and
every object here has `__slots__`.

Limits, so one misbehaving client never affects the others:
- frames over `MAX_FRAME_BYTES` close the socket with 1009; binary frames with 1003;
- a frame that is not a Phoenix message gets an error reply when it has a ref, else closes with 1003;
- more than `MAX_CHANNELS` joined topics: the join is refused with `{"reason": "too many channels"}`;
- messages beyond the per-socket rate (`RATE_PER_SECOND`, bursts of `RATE_BURST`) get
  `{"reason": "rate limited"}`; a client that keeps flooding (`FLOOD_CLOSE_AFTER` refusals) is
  closed with 1008;
- a client that cannot read fast enough (`SEND_QUEUE_SIZE` frames wait behind a write it is slow
  to take) is closed with 1013 (the close frame goes out behind what its transport still holds; a
  client that never reads again is dropped at the heartbeat timeout), and a channel whose
  broadcasts pile up is crashed (`phx_error`, see `channel_server.CHANNEL_BACKLOG`): the client
  rejoins and gets a fresh state;
- no frame for `HEARTBEAT_TIMEOUT` seconds (the JS client sends a heartbeat every 30 s): 1001.

Close codes that ask clients to come back are 1001/1012/1013 (never 1000, after which some client
versions do not reconnect); 1000 is used only for a deliberate disconnect (log-out).

Metrics (`my_app.metrics`): `sockets_connected` is one more from the accepted handshake until the
socket's clean-up is over, however it ends (the client gone, a limit, an exception, the server
shutting down); `channel_joins_total{channel, result}` counts each join by the prefix of the pattern
that serves it (`room` for `room:*`, so as many labels as the socket module has channels;
`unmatched` for a topic none serves) and result `ok` or `error`; the frames dropped when a client
cannot keep up are `pubsub_dropped_messages_total{reason="client_too_slow"}`.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from my_app import pubsub
from my_app.encoding import b64url_decode
from my_app.metrics import CHANNEL_JOINS, PUBSUB_DROPPED, SOCKETS_CONNECTED
from my_app_web.channels.channel import Reply
from my_app_web.channels.channel_server import ChannelServer
from my_app_web.channels.eager import start_eagerly
from my_app_web.channels.rate_bucket import TokenBucket
from my_app_web.channels.serializer import Frame, MalformedFrameError, Serializer, for_version
from my_app_web.channels.socket_handler import SocketHandler
from my_app_web.channels.wire import Outgoing, Wire

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
MAX_CHANNELS = 100
HEARTBEAT_TIMEOUT = 60.0
SEND_QUEUE_SIZE = 1024  # frames waiting behind a write the client is slow to take: then 1013
RATE_PER_SECOND = 50.0
RATE_BURST = 100.0
FLOOD_CLOSE_AFTER = 200  # refused messages before the socket is closed

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN = 1013

AUTH_TOKEN_PREFIX = "base64url.bearer.phx."  # noqa: S105 - a protocol prefix, not a secret
PHOENIX_TOPIC = "phoenix"


async def refuse(send: Send) -> None:
    """Refuse a WebSocket whose `websocket.connect` was received: closing before accepting answers
    the upgrade with HTTP 403, as Phoenix refuses a connect."""
    await send({"type": "websocket.close", "code": CLOSE_POLICY})


_DROPPED_CLIENT_TOO_SLOW = PUBSUB_DROPPED.labels(reason="client_too_slow")
UNMATCHED = "unmatched"  # the channel label of a join no channel serves


def channel_label(pattern: str) -> str:
    """The `channel` label of a join: its pattern's prefix (`room` for `room:*`), a bounded set."""
    return pattern.split(":", 1)[0]


def count_join(channel: str, ok: bool) -> None:
    CHANNEL_JOINS.labels(channel=channel, result="ok" if ok else "error").inc()


# The last broadcast each serializer encoded: every subscriber of a topic gets the same Message
# object, so a broadcast to N sockets is encoded (and framed) once rather than N times.
_encoded_broadcasts: dict[type, tuple[pubsub.Message, str, Outgoing]] = {}
# Pushes whose payload was encoded once for many sockets (an `orjson.Fragment`: the presence_state
# every joiner of one presence period is sent), framed once per serializer, join_ref, topic and
# event: most clients join a topic with the same join_ref. Each entry holds its frame (megabytes
# in a large room) until the payload changes, so there are at most SHARED_PUSHES of them.
_shared_pushes: dict[tuple[type, str | None, str, str], tuple[orjson.Fragment, Outgoing]] = {}
SHARED_PUSHES = 16


def _encode_broadcast(serializer: Serializer, topic: str, message: pubsub.Message) -> Outgoing:
    """`message` as a broadcast frame (no join_ref, as Phoenix's fastlane sends them), via the cache."""
    cached = _encoded_broadcasts.get(type(serializer))
    if cached is not None and cached[0] is message and cached[1] == topic:
        return cached[2]
    payload = message.payload if isinstance(message.payload, dict) else {"data": message.payload}
    outgoing = Outgoing.of(serializer.encode_utf8(Frame(None, None, topic, message.event, payload)))
    _encoded_broadcasts[type(serializer)] = (message, topic, outgoing)
    return outgoing


def _encode(serializer: Serializer, frame: Frame) -> Outgoing:
    """`frame` encoded; once for all the pushes of one shared payload (an `orjson.Fragment`)."""
    if not isinstance(frame.payload, orjson.Fragment) or frame.ref is not None:
        return Outgoing.of(serializer.encode_utf8(frame))
    key = (type(serializer), frame.join_ref, frame.topic, frame.event)
    cached = _shared_pushes.get(key)
    if cached is not None and cached[0] is frame.payload:
        return cached[1]
    outgoing = Outgoing.of(serializer.encode_utf8(frame))
    if cached is None and len(_shared_pushes) >= SHARED_PUSHES:
        _shared_pushes.clear()
    _shared_pushes[key] = (frame.payload, outgoing)
    return outgoing


class Connection:
    """One WebSocket speaking the Phoenix protocol, on the ASGI connection it was given.

    At rest a connection has one task, the ASGI one, waiting for the client's next frame; its
    channels and its PubSub subscriptions have none. Frames to the client are written at once:
    to uvicorn's transport when it serves the socket (`wire.py`: a frame encoded once for many
    sockets is written as is), else through ASGI `send` (`start_eagerly`). Only while a write
    waits on a slow client do later frames queue, up to `SEND_QUEUE_SIZE`, in `outbox`.
    """

    __slots__ = (
        "_channel_count",
        "_receive",
        "_send",
        "assigns",
        "bucket",
        "channels",
        "closing",
        "context",
        "handler",
        "id",
        "id_subscription",
        "outbox",
        "refused",
        "scope",
        "serializer",
        "wire",
        "writer",
        "writing",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send, handler: SocketHandler) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.handler = handler
        self.id = uuid.uuid4().hex
        self.assigns: dict[str, Any] = {}
        self.channels: dict[str, ChannelServer] = {}
        self.serializer: Serializer | None = None
        self.wire = Wire.behind(send)
        self.outbox: collections.deque[Outgoing | None] = collections.deque()
        self.writing = False
        self.writer: asyncio.Task[None] | None = None
        self.bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST)
        self.refused = 0
        self.closing: tuple[int, str] | None = None
        self.id_subscription: pubsub.Subscription | None = None
        self._channel_count = 0
        # The context this socket's tasks run in: the socket's own, never that of whoever (an HTTP
        # request, another socket) caused a frame to be written or an item to be queued.
        self.context = contextvars.copy_context()

    def next_owner(self) -> str:
        """A PubSub owner id for the next channel: unique on every node (the connection id is a uuid)."""
        self._channel_count += 1
        return f"{self.id}:{self._channel_count}"

    # --- Handshake ---

    async def serve(self) -> None:
        if (await self._receive())["type"] != "websocket.connect":
            return
        query = self.scope.get("query_string", b"").decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True))
        requested: list[str] = list(self.scope.get("subprotocols") or ())
        self.serializer = for_version(params.get("vsn"))
        connect_info = {"auth_token": _auth_token(requested), "peer": self.scope.get("client")}
        try:
            assigns = await self.handler.connect(params, connect_info) if self.serializer else None
        except Exception:
            # The socket module could not decide (the database is down...): a server error, not a refusal.
            logger.exception("socket connect crashed")
            await self._answer_server_error()
            return
        if assigns is None:
            await refuse(self._send)
            return
        self.assigns = assigns
        try:
            await self._send({"type": "websocket.accept", "subprotocol": "phoenix" if "phoenix" in requested else None})
        except Exception:  # gone before the answer
            return
        SOCKETS_CONNECTED.inc()
        try:
            await self._serve_accepted()
        finally:
            SOCKETS_CONNECTED.dec()

    async def _serve_accepted(self) -> None:
        socket_id = self.handler.id(self.assigns)
        if socket_id is not None:
            self.id_subscription = pubsub.subscribe(socket_id, owner=self.id, on_message=self._on_socket_id_message)
        try:
            await self._read()
        finally:
            if self.id_subscription is not None:
                pubsub.unsubscribe(self.id_subscription)
            for server in list(self.channels.values()):
                await self.remove_channel(server, reason="closed", notify=False)
            writer = self.writer
            if writer is not None:  # let what is queued (a close) go out, briefly
                await asyncio.wait({writer}, timeout=1)
                writer.cancel()

    async def _answer_server_error(self) -> None:
        # uvicorn (0.54, websockets-sansio) then also logs "ASGI callable returned without completing
        # handshake": it does not count an HTTP answer as one. Our own log line above says why.
        if "websocket.http.response" not in (self.scope.get("extensions") or {}):
            await self._send({"type": "websocket.close", "code": CLOSE_INTERNAL_ERROR})  # the server says 403
            return
        await self._send(
            {
                "type": "websocket.http.response.start",
                "status": 500,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await self._send({"type": "websocket.http.response.body", "body": b"Internal Server Error"})

    def _on_socket_id_message(self, item: pubsub.Message | pubsub.Gap) -> None:
        if isinstance(item, pubsub.Message) and item.event == "disconnect":
            self.close(CLOSE_NORMAL, "disconnected")

    # --- Reading ---

    async def _read(self) -> None:
        receive = self._receive
        while self.closing is None:
            try:
                # Not wait_for: on Python 3.11 it wraps every receive in a task of its own.
                async with asyncio.timeout(HEARTBEAT_TIMEOUT):
                    message = await receive()
            except TimeoutError:
                self.close(CLOSE_GOING_AWAY, "heartbeat timeout")
                return
            except Exception:  # the server lost the client
                return
            if message["type"] != "websocket.receive":
                return  # websocket.disconnect
            text = message.get("text")
            if text is None:
                self.close(CLOSE_UNSUPPORTED, "binary frames are not supported")
                return
            if len(text) > MAX_FRAME_BYTES // 4 and len(text.encode()) > MAX_FRAME_BYTES:
                self.close(CLOSE_TOO_BIG, f"frames are limited to {MAX_FRAME_BYTES} bytes")
                return
            await self._dispatch(text)

    async def _dispatch(self, text: str) -> None:
        assert self.serializer is not None  # noqa: S101 - set before accepting
        try:
            frame = self.serializer.decode(text)
        except MalformedFrameError as bad:
            if bad.ref is None or bad.topic is None:
                self.close(CLOSE_UNSUPPORTED, f"malformed message: {bad}")
            elif self._within_rate(bad.join_ref, bad.ref, bad.topic):
                self.reply(bad.join_ref, bad.ref, bad.topic, Reply.error({"reason": str(bad)}))
            return
        if frame.topic == PHOENIX_TOPIC and frame.event == "heartbeat":
            self.reply(None, frame.ref, PHOENIX_TOPIC, Reply.ok())
            return
        if not self._within_rate(frame.join_ref, frame.ref, frame.topic):
            return
        if frame.event == "phx_join":
            await self._join(frame)
        elif frame.event == "phx_leave":
            await self._leave(frame)
        else:
            server = self.channels.get(frame.topic)
            if server is None or (frame.join_ref is not None and frame.join_ref != server.join_ref):
                self.reply(frame.join_ref, frame.ref, frame.topic, Reply.error({"reason": "unmatched topic"}))
                return
            server.handle_in(frame.ref, frame.event, frame.payload)

    def _within_rate(self, join_ref: str | None, ref: str | None, topic: str) -> bool:
        """Take a token for a message; without one, refuse it (or close a socket that keeps flooding)."""
        if self.bucket.take():
            return True
        self.refused += 1
        if self.refused >= FLOOD_CLOSE_AFTER:
            self.close(CLOSE_POLICY, "rate limit exceeded")
        else:
            self.reply(join_ref, ref, topic, Reply.error({"reason": "rate limited"}))
        return False

    async def _join(self, frame: Frame) -> None:
        route = self.handler.route(frame.topic)
        if route is None:
            count_join(UNMATCHED, ok=False)
            self.reply(frame.join_ref, frame.ref, frame.topic, Reply.error({"reason": "unmatched topic"}))
            return
        pattern, channel_class = route
        existing = self.channels.get(frame.topic)
        if existing is not None:
            # A second join of a topic replaces the first, as Phoenix does (the client rejoined).
            await self.remove_channel(existing, reason="replaced", notify=True)
        elif len(self.channels) >= MAX_CHANNELS:
            count_join(channel_label(pattern), ok=False)
            self.reply(frame.join_ref, frame.ref, frame.topic, Reply.error({"reason": "too many channels"}))
            return
        server = ChannelServer(self, channel_class(), frame.topic, frame.join_ref)
        self.channels[frame.topic] = server
        joined = await server.join(frame.payload, frame.ref)
        count_join(channel_label(pattern), ok=joined)
        if not joined:
            self.channels.pop(frame.topic, None)

    async def _leave(self, frame: Frame) -> None:
        server = self.channels.get(frame.topic)
        if server is None or (frame.join_ref is not None and frame.join_ref != server.join_ref):
            # Nothing to leave (e.g. the join was refused, and the client leaves to stop retrying),
            # or only a channel instance that a later join replaced: Phoenix answers ok, so the
            # client closes its channel; the current one, if any, stays.
            self.reply(frame.join_ref, frame.ref, frame.topic, Reply.ok())
            return
        self.reply(server.join_ref, frame.ref, frame.topic, Reply.ok())
        await self.remove_channel(server, reason="left", notify=True)

    async def remove_channel(self, server: ChannelServer, *, reason: str, notify: bool) -> None:
        if self.channels.get(server.topic) is server:
            del self.channels[server.topic]
        await server.stop(reason)
        if notify:
            self.send(Frame(server.join_ref, server.join_ref, server.topic, "phx_close", {}))

    # --- Writing ---

    def reply(self, join_ref: str | None, ref: str | None, topic: str, reply: Reply) -> None:
        self.send(Frame(join_ref, ref, topic, "phx_reply", {"status": reply.status, "response": reply.response}))

    def send(self, frame: Frame) -> None:
        """Write `frame` to the client (a payload shared by many pushes, an `orjson.Fragment`, is framed once)."""
        if self.closing is not None or self.serializer is None:
            return
        self._enqueue(_encode(self.serializer, frame))

    def send_broadcast(self, topic: str, message: pubsub.Message) -> None:
        """A broadcast on `topic`, encoded once for every socket that receives it."""
        if self.closing is not None or self.serializer is None:
            return
        self._enqueue(_encode_broadcast(self.serializer, topic, message))

    def _enqueue(self, outgoing: Outgoing | None) -> None:
        """Write `outgoing` now, or queue it behind a write that waits on the client (None: close)."""
        if not self.writing:
            wire = self.wire
            if outgoing is not None and wire is not None and wire.open() and wire.writable():
                try:
                    wire.write(outgoing)  # the common case: no coroutine, no task
                except Exception:  # the client went away: the reader sees the disconnect
                    logger.debug("socket %s: write failed", self.id, exc_info=True)
                return
            self.writing = True
            self.writer = start_eagerly(self._write(outgoing), f"socket {self.id} writer", context=self.context)
        elif outgoing is None or len(self.outbox) < SEND_QUEUE_SIZE:
            self.outbox.append(outgoing)
        else:
            # The client does not read: drop what waits for it and close once the stuck write is done.
            _DROPPED_CLIENT_TOO_SLOW.inc(len(self.outbox) + 1)
            self.outbox.clear()
            self.close(CLOSE_TRY_AGAIN, "the client is not reading fast enough")

    async def _write(self, outgoing: Outgoing | None) -> None:
        send, wire = self._send, self.wire
        try:
            while True:
                if outgoing is None:
                    code, reason = self.closing or (CLOSE_GOING_AWAY, "")
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                    return
                if wire is not None and wire.open():
                    if not wire.writable():
                        await wire.wait_writable()
                        continue  # open still? (uvicorn also wakes its writers when the client is gone)
                    wire.write(outgoing)
                else:  # not uvicorn's protocol, or no longer open (then `send` raises, as for any write)
                    await send({"type": "websocket.send", "text": outgoing.text})
                if not self.outbox:
                    return
                outgoing = self.outbox.popleft()
        except Exception:  # the client went away: the reader sees the disconnect
            self.outbox.clear()
        finally:
            self.writing = False
            self.writer = None

    def close(self, code: int, reason: str) -> None:
        """Close the socket with `code`, after the frames queued before it."""
        if self.closing is None:
            self.closing = (code, reason)
            logger.info("closing socket %s: %s (%d)", self.id, reason, code)
            self._enqueue(None)


def _auth_token(protocols: list[str]) -> str | None:
    """The token the JS client's `authToken` option sends as a subprotocol (base64url, no padding)."""
    for protocol in protocols:
        if protocol.startswith(AUTH_TOKEN_PREFIX):
            encoded = protocol[len(AUTH_TOKEN_PREFIX) :]
            raw = b64url_decode(encoded)
            try:
                return raw.decode() if raw is not None else None
            except UnicodeDecodeError:
                return None
    return None
