"""The `/socket/websocket` endpoint: Phoenix Channels over a WebSocket (Phoenix.Socket + Channel.Server).

One `Connection` per WebSocket. It authenticates the handshake through the socket module
(`SocketHandler.connect`; a refusal is HTTP 403 before the upgrade, as Phoenix does), answers
heartbeats on the `phoenix` topic, routes `phx_join` to the channel class whose pattern matches
the topic, and runs each joined channel as its own task that handles one message at a time.

Limits, so one misbehaving client never affects the others:
- frames over `MAX_FRAME_BYTES` close the socket with 1009; binary frames with 1003;
- a frame that is not a Phoenix message gets an error reply when it has a ref, else closes with 1003;
- more than `MAX_CHANNELS` joined topics: the join is refused with `{"reason": "too many channels"}`;
- messages beyond the per-socket rate get `{"reason": "rate limited"}`; a client that keeps
  flooding is closed with 1008;
- a client that cannot read fast enough (its send queue is full) is closed with 1013, and a channel
  whose broadcasts pile up is crashed (`phx_error`): the client rejoins and gets a fresh state;
- no frame for `HEARTBEAT_TIMEOUT` seconds (the JS client sends a heartbeat every 30 s): 1001.

Close codes that ask clients to come back are 1001/1012/1013 (never 1000, after which some client
versions do not reconnect); 1000 is used only for a deliberate disconnect (log-out).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fnmatch
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect

from my_app import pubsub
from my_app_web.channels.channel import Channel, ChannelSocket, Refuse, Reply
from my_app_web.channels.serializer import Frame, MalformedFrameError, Serializer, for_version

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
MAX_CHANNELS = 100
HEARTBEAT_TIMEOUT = 60.0
SEND_QUEUE_SIZE = 1024
# Messages waiting in a channel's inbox before its pubsub pump stops feeding it: later broadcasts
# wait in the subscription's bounded queue, whose overflow crashes the channel.
INBOX_BACKLOG = 16
RATE_PER_SECOND = 50.0
RATE_BURST = 100.0
FLOOD_CLOSE_AFTER = 200  # refused messages before the socket is closed
# A channel task still running this long after it was cancelled is cancelled again, at most
# CANCEL_ATTEMPTS times (then it is left behind, logged): a socket's clean-up never hangs on it.
CANCEL_GRACE = 1.0
CANCEL_ATTEMPTS = 5

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013

AUTH_TOKEN_PREFIX = "base64url.bearer.phx."  # noqa: S105 - a protocol prefix, not a secret
PHOENIX_TOPIC = "phoenix"


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
        for pattern, channel in self.channels:
            if fnmatch.fnmatchcase(topic, pattern):
                return channel
        return None


@dataclass
class _Bucket:
    """A token bucket: `rate` messages a second, bursts up to `burst`."""

    rate: float
    burst: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


T = TypeVar("T")


class Mailbox(Generic[T]):
    """`asyncio.Queue`'s `put_nowait`/`get` and friends, in a fraction of its memory.

    An idle asyncio.Queue holds three deques (about 3.3 KB); every socket has an outbox and every
    joined channel an inbox, so at 20,000 sockets that was some 130 MB. This one holds a list and,
    while a reader waits, a future. FIFO; `put_nowait` raises `asyncio.QueueFull` beyond `maxsize`.
    """

    __slots__ = ("_items", "_waiters", "maxsize")

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def put_nowait(self, item: T) -> None:
        if self.full():
            raise asyncio.QueueFull
        self._items.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    def get_nowait(self) -> T:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> T:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif self._items:  # woken and cancelled at once: pass the wake-up on
                    self._wake_one()
                raise
        return self._items.pop(0)


# The last broadcast each serializer encoded: every subscriber of a topic gets the same Message
# object, so a broadcast to N sockets is encoded once rather than N times.
_encoded_broadcasts: dict[type, tuple[pubsub.Message, str, str]] = {}


def _encode_broadcast(serializer: Serializer, topic: str, message: pubsub.Message) -> str:
    """`message` as a broadcast frame (no join_ref, as Phoenix's fastlane sends them), via the cache."""
    cached = _encoded_broadcasts.get(type(serializer))
    if cached is not None and cached[0] is message and cached[1] == topic:
        return cached[2]
    payload = message.payload if isinstance(message.payload, dict) else {"data": message.payload}
    text = serializer.encode(Frame(None, None, topic, message.event, payload))
    _encoded_broadcasts[type(serializer)] = (message, topic, text)
    return text


class ChannelServer:
    """One joined topic: its channel instance, its pubsub subscription and its inbox."""

    def __init__(self, connection: Connection, channel: Channel, topic: str, join_ref: str | None) -> None:
        self.connection = connection
        self.channel = channel
        self.topic = topic
        self.join_ref = join_ref
        self.owner = f"{connection.id}:{uuid.uuid4().hex}"
        self.inbox: Mailbox[tuple[str, Any]] = Mailbox()
        # Broadcasts skip the inbox when the channel keeps Channel.handle_out and is idle (Phoenix's fastlane).
        self.intercepts = type(channel).handle_out is not Channel.handle_out
        self.busy = False  # _run is handling an item
        self.drained = asyncio.Event()  # set whenever the channel has emptied its inbox
        self.socket = ChannelSocket(
            topic=topic,
            join_ref=join_ref,
            assigns=dict(connection.assigns),
            owner=self.owner,
            push=self.push,
            send_info=lambda message: self.inbox.put_nowait(("info", message)),
        )
        self.subscription: pubsub.Subscription | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.stopped = False

    async def push(self, event: str, payload: dict[str, Any]) -> None:
        self.connection.send(Frame(self.join_ref, None, self.topic, event, payload))

    async def join(self, payload: dict[str, Any], ref: str | None) -> bool:
        try:
            response = await self.channel.join(self.topic, payload, self.socket)
        except Refuse as refused:
            self.connection.reply(self.join_ref, ref, self.topic, Reply.error(refused.response))
            return False
        except Exception:
            logger.exception("join of %s crashed", self.topic)
            self.connection.reply(self.join_ref, ref, self.topic, Reply.error({"reason": "join crashed"}))
            return False
        self.subscription = pubsub.subscribe(self.topic, owner=self.owner)
        self.connection.reply(self.join_ref, ref, self.topic, Reply.ok(response or {}))
        self.tasks = [
            asyncio.create_task(self._run(), name=f"channel {self.topic}"),
            asyncio.create_task(self._pump(self.subscription), name=f"channel {self.topic} pubsub"),
        ]
        self.inbox.put_nowait(("after_join", None))
        return True

    async def _pump(self, subscription: pubsub.Subscription) -> None:
        try:
            while True:
                item = await subscription.get()
                if self._fastlane(item):
                    continue
                self.inbox.put_nowait(("out", item))
                if self.inbox.qsize() >= INBOX_BACKLOG:
                    self.drained.clear()
                    await self.drained.wait()
        except pubsub.SubscriptionClosed:
            if subscription.close_reason == "overflow":
                self.inbox.put_nowait(("crash", "broadcasts piled up faster than the client read them"))

    def _fastlane(self, item: pubsub.Message | pubsub.Gap) -> bool:
        """Send a broadcast straight to the socket when that is what `_run` would do next; True if handled.

        Only when nothing waits in the inbox and `_run` is idle (so frames keep their order), and
        the channel does not override `handle_out`: one task switch less per socket and broadcast.
        """
        if self.busy or self.intercepts or not self.inbox.empty() or not isinstance(item, pubsub.Message):
            return False
        if item.sender != self.owner:
            self.connection.send_broadcast(self.topic, item)
        return True

    async def _run(self) -> None:
        while True:
            self.busy = False
            if self.inbox.empty():
                self.drained.set()
            kind, item = await self.inbox.get()
            self.busy = True
            try:
                if kind == "in":
                    ref, event, payload = item
                    reply = await self.channel.handle_in(event, payload, self.socket)
                    if reply is not None and ref is not None:
                        self.connection.reply(self.join_ref, ref, self.topic, reply)
                elif kind == "out":
                    await self._handle_out(item)
                elif kind == "info":
                    await self.channel.handle_info(item, self.socket)
                elif kind == "after_join":
                    await self.channel.after_join(self.socket)
                elif kind == "crash":
                    raise RuntimeError(item)
            except Exception:
                logger.exception("channel %s crashed", self.topic)
                self.connection.send(Frame(self.join_ref, self.join_ref, self.topic, "phx_error", {}))
                await self.connection.remove_channel(self, reason="crashed", notify=False)
                return

    async def _handle_out(self, item: pubsub.Message | pubsub.Gap) -> None:
        if isinstance(item, pubsub.Gap):
            await self.channel.handle_info(item, self.socket)
            return
        if item.sender == self.owner:
            return
        if not self.intercepts:
            self.connection.send_broadcast(self.topic, item)
            return
        payload = await self.channel.handle_out(item, self.socket)
        if payload is not None:
            # Broadcasts carry no join_ref, as Phoenix's fastlane sends them.
            self.connection.send(Frame(None, None, self.topic, item.event, payload))

    async def stop(self, reason: str) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.subscription is not None:
            pubsub.unsubscribe(self.subscription)
        current = asyncio.current_task()
        await _cancel([task for task in self.tasks if task is not current])
        try:
            await self.channel.terminate(reason, self.socket)
        except Exception:
            logger.exception("terminate of %s failed", self.topic)


class Connection:
    """One WebSocket speaking the Phoenix protocol."""

    def __init__(self, websocket: WebSocket, handler: SocketHandler) -> None:
        self.websocket = websocket
        self.handler = handler
        self.id = uuid.uuid4().hex
        self.assigns: dict[str, Any] = {}
        self.channels: dict[str, ChannelServer] = {}
        self.serializer: Serializer | None = None
        self.outbox: Mailbox[str | None] = Mailbox(maxsize=SEND_QUEUE_SIZE)
        self.bucket = _Bucket(RATE_PER_SECOND, RATE_BURST)
        self.refused = 0
        self.closing: tuple[int, str] | None = None

    # --- Handshake ---

    async def serve(self) -> None:
        params = dict(self.websocket.query_params)
        requested = [
            p.strip() for p in self.websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()
        ]
        auth_token = _auth_token(requested)
        self.serializer = for_version(params.get("vsn"))
        connect_info = {"auth_token": auth_token, "peer": self.websocket.client}
        assigns = await self._connect(params, connect_info) if self.serializer else None
        if assigns is None:
            # Closing before accepting answers the upgrade with HTTP 403.
            await self.websocket.close()
            return
        self.assigns = assigns
        await self.websocket.accept(subprotocol="phoenix" if "phoenix" in requested else None)
        writer = asyncio.create_task(self._write(), name=f"socket {self.id} writer")
        watcher = self._watch_id()
        try:
            await self._read()
        finally:
            for server in list(self.channels.values()):
                await self.remove_channel(server, reason="closed", notify=False)
            if watcher is not None:
                watcher.cancel()
            self.outbox.put_nowait(None) if not self.outbox.full() else None
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(writer, timeout=1)
            writer.cancel()

    async def _connect(self, params: dict[str, str], connect_info: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return await self.handler.connect(params, connect_info)
        except Exception:
            logger.exception("socket connect crashed")
            return None

    def _watch_id(self) -> asyncio.Task[None] | None:
        socket_id = self.handler.id(self.assigns)
        if socket_id is None:
            return None
        subscription = pubsub.subscribe(socket_id, owner=self.id)

        async def watch() -> None:
            try:
                while True:
                    item = await subscription.get()
                    if isinstance(item, pubsub.Message) and item.event == "disconnect":
                        self.close(CLOSE_NORMAL, "disconnected")
                        return
            except pubsub.SubscriptionClosed:
                return
            finally:
                pubsub.unsubscribe(subscription)

        return asyncio.create_task(watch(), name=f"socket {self.id} id watcher")

    # --- Reading ---

    async def _read(self) -> None:
        while self.closing is None:
            try:
                # Not wait_for: on Python 3.11 it wraps every receive in a task of its own.
                async with asyncio.timeout(HEARTBEAT_TIMEOUT):
                    message = await self.websocket.receive()
            except TimeoutError:
                self.close(CLOSE_GOING_AWAY, "heartbeat timeout")
                return
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.close(CLOSE_UNSUPPORTED, "binary frames are not supported")
                return
            if len(text.encode()) > MAX_FRAME_BYTES:
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
            server.inbox.put_nowait(("in", (frame.ref, frame.event, frame.payload)))

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
        channel_class = self.handler.channel_for(frame.topic)
        if channel_class is None:
            self.reply(frame.join_ref, frame.ref, frame.topic, Reply.error({"reason": "unmatched topic"}))
            return
        existing = self.channels.get(frame.topic)
        if existing is not None:
            # A second join of a topic replaces the first, as Phoenix does (the client rejoined).
            await self.remove_channel(existing, reason="replaced", notify=True)
        elif len(self.channels) >= MAX_CHANNELS:
            self.reply(frame.join_ref, frame.ref, frame.topic, Reply.error({"reason": "too many channels"}))
            return
        server = ChannelServer(self, channel_class(), frame.topic, frame.join_ref)
        self.channels[frame.topic] = server
        if not await server.join(frame.payload, frame.ref):
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
        if self.closing is not None or self.serializer is None:
            return
        self._enqueue(self.serializer.encode(frame))

    def send_broadcast(self, topic: str, message: pubsub.Message) -> None:
        """A broadcast on `topic`, encoded once for every socket that receives it."""
        if self.closing is not None or self.serializer is None:
            return
        self._enqueue(_encode_broadcast(self.serializer, topic, message))

    def _enqueue(self, text: str) -> None:
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.close(CLOSE_TRY_AGAIN, "the client is not reading fast enough")

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            logger.info("closing socket %s: %s (%d)", self.id, reason, code)
            try:
                self.outbox.put_nowait(None)  # the writer sends what is queued, then closes
            except asyncio.QueueFull:
                # The writer is stuck behind a full queue: close from here.
                asyncio.get_running_loop().create_task(self._close_now())

    async def _close_now(self) -> None:
        code, reason = self.closing or (CLOSE_GOING_AWAY, "")
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)

    async def _write(self) -> None:
        try:
            while True:
                text = await self.outbox.get()
                if text is None:
                    break
                await self.websocket.send_text(text)
        except Exception:  # the client went away: the reader sees the disconnect
            return
        if self.closing is not None:
            await self._close_now()


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait for them, cancelling again the ones that swallowed it (channel code
    that catches CancelledError, or `asyncio.wait_for` on Python 3.11 when what it awaits finishes
    just as it is cancelled), so that a socket's clean-up never waits forever."""
    pending = set(tasks)
    for _ in range(CANCEL_ATTEMPTS):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_GRACE)
    for task in pending:
        logger.error("%s ignored %d cancellations: left behind", task.get_name(), CANCEL_ATTEMPTS)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a channel's failures are logged where they happen


def _auth_token(protocols: list[str]) -> str | None:
    """The token the JS client's `authToken` option sends as a subprotocol (base64url, no padding)."""
    for protocol in protocols:
        if protocol.startswith(AUTH_TOKEN_PREFIX):
            encoded = protocol[len(AUTH_TOKEN_PREFIX) :]
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


async def serve(websocket: WebSocket, handler: SocketHandler) -> None:
    """Run one connection to its end."""
    connection = Connection(websocket, handler)
    await connection.serve()
