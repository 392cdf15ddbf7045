"""The `/socket/websocket` endpoint: Phoenix Channels over a WebSocket (Phoenix.Socket + Channel.Server).

`SocketEndpoint(handler)` is the ASGI app; `my_app_web.endpoint.Endpoint.socket()` serves it
before the router and the middleware, as Phoenix's endpoint does with `socket/3`. One
`Connection` per WebSocket. It authenticates the handshake through the socket module
(`SocketHandler.connect`; a refusal is HTTP 403 before the upgrade, as Phoenix does; a crash in
it, such as the database being down, is HTTP 500), answers heartbeats on the `phoenix` topic,
routes `phx_join` to the channel class whose pattern matches the topic, and runs each joined
channel as a `ChannelServer` that handles one message at a time.

Built to hold tens of thousands of idle sockets per process: an idle socket has one task (the
ASGI one, reading), its channels and PubSub subscriptions none (callbacks instead), frames are
written without a task unless the client is slow, and every object here has `__slots__`.

Limits, so one misbehaving client never affects the others:
- frames over `MAX_FRAME_BYTES` close the socket with 1009; binary frames with 1003;
- a frame that is not a Phoenix message gets an error reply when it has a ref, else closes with 1003;
- more than `MAX_CHANNELS` joined topics: the join is refused with `{"reason": "too many channels"}`;
- messages beyond the per-socket rate get `{"reason": "rate limited"}`; a client that keeps
  flooding is closed with 1008;
- a client that cannot read fast enough (its send queue is full) is closed with 1013 (the close
  frame goes out behind what its transport still holds; a client that never reads again is
  dropped at the heartbeat timeout), and a channel whose broadcasts pile up is crashed
  (`phx_error`): the client rejoins and gets a fresh state;
- no frame for `HEARTBEAT_TIMEOUT` seconds (the JS client sends a heartbeat every 30 s): 1001.

Close codes that ask clients to come back are 1001/1012/1013 (never 1000, after which some client
versions do not reconnect); 1000 is used only for a deliberate disconnect (log-out).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import fnmatch
import inspect
import logging
import time
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from my_app import pubsub
from my_app.encoding import b64url_decode
from my_app_web.channels.channel import Channel, ChannelSocket, PushPayload, Refuse, Reply
from my_app_web.channels.serializer import Frame, MalformedFrameError, Serializer, for_version

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
MAX_CHANNELS = 100
HEARTBEAT_TIMEOUT = 60.0
SEND_QUEUE_SIZE = 1024  # frames waiting behind a write the client is slow to take: then 1013
CHANNEL_BACKLOG = 1024  # items waiting for a busy channel: then it crashes (phx_error)
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
CLOSE_INTERNAL_ERROR = 1011
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


class _Bucket:
    """A token bucket: `rate` messages a second, bursts up to `burst`."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def start_eagerly(
    coro: Coroutine[Any, Any, None], name: str, *, context: contextvars.Context | None = None
) -> asyncio.Task[None] | None:
    """Run `coro` at once, up to its first real wait; only a coroutine that has to wait gets a task.

    Like Python 3.12's eager tasks, for 3.11, with a difference that matters: the eager part runs
    in the caller's task and context (`current_task()` is the caller's, so `asyncio.timeout()`
    there would cancel the caller). Keep it to coroutines that only write, as `Connection._write`.
    Writing a frame almost never waits (uvicorn hands it to the transport there and then), so a
    broadcast to N sockets is N plain calls rather than N task wake-ups, and nothing outlives the
    call for the garbage collector to scan later. Exceptions raised before the first wait
    propagate to the caller; the rest runs in a task (in `context`, if given).
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    task = asyncio.get_running_loop().create_task(_resume(coro, waiting_on), name=name, context=context)
    task.add_done_callback(lambda done: _cancel_left_behind(coro) if done.cancelled() else None)
    return task


def _cancel_left_behind(coro: Coroutine[Any, Any, None]) -> None:
    """A task cancelled before its first step never ran `_resume`: cancel `coro` itself (its
    `except`/`finally` blocks run), and close it if it would rather wait again."""
    if inspect.getcoroutinestate(coro) != inspect.CORO_SUSPENDED:
        return
    try:
        coro.throw(asyncio.CancelledError())
    except BaseException:  # finished, as it should: cancelled (or it returned)
        return
    coro.close()


async def _resume(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Go on with `coro` in a task, from where `start_eagerly` left it: waiting on a future (or a bare yield)."""
    while True:
        if waiting_on is None:
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError as cancelled:  # this task was cancelled: pass it on
                try:
                    waiting_on = coro.throw(cancelled)
                except StopIteration:
                    return
                continue
        else:
            # What a Task does with a future its coroutine yields: clear the flag the future set
            # when it was yielded, then wait for it. Its outcome is the coroutine's to see (resumed,
            # it reads it from the future); cancelling this task while it waits cancels the future,
            # so the coroutine sees that too.
            waiting_on._asyncio_future_blocking = False
            try:
                await waiting_on
            except asyncio.CancelledError as cancelled:
                if not waiting_on.cancelled():
                    # This task was cancelled after the future was done: pass that on.
                    try:
                        waiting_on = coro.throw(cancelled)
                    except StopIteration:
                        return
                    continue
            except BaseException:  # noqa: S110 - the future's failure: the coroutine reads it from the future
                pass
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return


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
    """One joined topic (a channel process): its channel instance, its subscription, its inbox.

    It has no task while idle. Whatever the channel must handle (pushes from the client, info,
    broadcasts it intercepts) goes into its inbox, and a task runs while the inbox has items, one
    at a time, as a channel process does; none runs before `join` has returned. Broadcasts the
    channel does not intercept go straight to the socket when nothing waits in the inbox and
    nothing is being handled (Phoenix's fastlane), from the PubSub callback.
    """

    __slots__ = (
        "channel",
        "connection",
        "inbox",
        "intercepts",
        "join_ref",
        "joined",
        "overflowed",
        "owner",
        "runner",
        "socket",
        "stopped",
        "subscription",
        "topic",
    )

    def __init__(self, connection: Connection, channel: Channel, topic: str, join_ref: str | None) -> None:
        self.connection = connection
        self.channel = channel
        self.topic = topic
        self.join_ref = join_ref
        self.owner = connection.next_owner()
        self.inbox: collections.deque[tuple[str, Any]] = collections.deque()
        self.intercepts = type(channel).handle_out is not Channel.handle_out
        self.runner: asyncio.Task[None] | None = None
        self.joined = False  # until join() succeeds, what the channel is sent waits in its inbox
        self.overflowed = False
        self.socket = ChannelSocket(
            topic=topic, join_ref=join_ref, assigns=dict(connection.assigns), owner=self.owner, process=self
        )
        self.subscription: pubsub.Subscription | None = None
        self.stopped = False

    async def push(self, event: str, payload: PushPayload) -> None:
        self.connection.send(Frame(self.join_ref, None, self.topic, event, payload))

    def send_info(self, message: Any) -> None:
        self._mail("info", message)

    async def join(self, payload: dict[str, Any], ref: str | None) -> bool:
        try:
            response = await self.channel.join(self.topic, payload, self.socket)
        except Refuse as refused:
            self._abandon()
            self.connection.reply(self.join_ref, ref, self.topic, Reply.error(refused.response))
            return False
        except Exception:
            logger.exception("join of %s crashed", self.topic)
            self._abandon()
            self.connection.reply(self.join_ref, ref, self.topic, Reply.error({"reason": "join crashed"}))
            return False
        self.subscription = pubsub.subscribe(self.topic, owner=self.owner, on_message=self.deliver)
        self.connection.reply(self.join_ref, ref, self.topic, Reply.ok(response or {}))
        # What join sent itself (`send_info`) is handled now, after the reply, as a channel process
        # reads its mailbox once `join/3` has returned; `after_join` comes after it.
        self.joined = True
        if type(self.channel).after_join is not Channel.after_join:
            self._mail("after_join", None)
        elif self.inbox:
            self._start_runner()
        return True

    def _abandon(self) -> None:
        """A join that failed: the channel never ran, so nothing it queued for itself will."""
        self.stopped = True
        self.inbox.clear()

    def handle_in(self, ref: str | None, event: str, payload: dict[str, Any]) -> None:
        self._mail("in", (ref, event, payload))

    def deliver(self, item: pubsub.Message | pubsub.Gap) -> None:
        """A broadcast or a Gap on the topic, from PubSub (a callback: it must not wait)."""
        if self.stopped or self.overflowed:
            return
        if self.runner is None and not self.inbox and not self.intercepts and isinstance(item, pubsub.Message):
            if item.sender != self.owner:
                try:
                    self.connection.send_broadcast(self.topic, item)
                except Exception:  # a payload that cannot be encoded: as if handle_out had raised
                    logger.exception("broadcast %r on %s could not be sent", item.event, self.topic)
                    self._mail("crash", "a broadcast could not be encoded")
            return
        if len(self.inbox) >= CHANNEL_BACKLOG:
            # Broadcasts pile up faster than the channel handles them: crash it once what is queued
            # is done; the client rejoins and starts from a fresh state.
            self.overflowed = True
            self._mail("crash", "broadcasts piled up faster than the channel handled them")
            return
        self._mail("out", item)

    def _mail(self, kind: str, item: Any) -> None:
        if self.stopped:
            return
        self.inbox.append((kind, item))
        if self.runner is None and self.joined:
            self._start_runner()

    def _start_runner(self) -> None:
        self.runner = asyncio.get_running_loop().create_task(
            self._run(), name=f"channel {self.topic}", context=self.connection.context
        )

    async def _run(self) -> None:
        inbox = self.inbox
        try:
            while inbox:
                kind, item = inbox.popleft()
                try:
                    await self._handle(kind, item)
                except asyncio.CancelledError:
                    if asyncio.current_task().cancelling():  # type: ignore[union-attr]  # in a task
                        raise  # stopped
                    # Channel code awaited something that someone else cancelled: a crash.
                    await self._crash()
                    return
                except Exception:
                    await self._crash()
                    return
        finally:
            self.runner = None

    async def _crash(self) -> None:
        logger.exception("channel %s crashed", self.topic)
        self.connection.send(Frame(self.join_ref, self.join_ref, self.topic, "phx_error", {}))
        await self.connection.remove_channel(self, reason="crashed", notify=False)

    async def _handle(self, kind: str, item: Any) -> None:
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
        self.inbox.clear()
        if self.subscription is not None:
            pubsub.unsubscribe(self.subscription)
        runner = self.runner
        if runner is not None and runner is not asyncio.current_task():
            await _cancel([runner])
        try:
            await self.channel.terminate(reason, self.socket)
        except Exception:
            logger.exception("terminate of %s failed", self.topic)


class Connection:
    """One WebSocket speaking the Phoenix protocol, on the ASGI connection it was given.

    At rest a connection has one task, the ASGI one, waiting for the client's next frame; its
    channels and its PubSub subscriptions have none. Frames to the client are written at once
    (`start_eagerly`); only while a write waits on a slow client do later frames queue, up to
    `SEND_QUEUE_SIZE`, in `outbox`.
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
        self.outbox: collections.deque[str | None] = collections.deque()
        self.writing = False
        self.writer: asyncio.Task[None] | None = None
        self.bucket = _Bucket(RATE_PER_SECOND, RATE_BURST)
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
            # Closing before accepting answers the upgrade with HTTP 403, as Phoenix does.
            await self._send({"type": "websocket.close", "code": CLOSE_POLICY})
            return
        self.assigns = assigns
        try:
            await self._send({"type": "websocket.accept", "subprotocol": "phoenix" if "phoenix" in requested else None})
        except Exception:  # gone before the answer
            return
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

    def _enqueue(self, text: str | None) -> None:
        """Write `text` now, or queue it behind a write that waits on the client (None: close)."""
        if not self.writing:
            self.writing = True
            self.writer = start_eagerly(self._write(text), f"socket {self.id} writer", context=self.context)
        elif text is None or len(self.outbox) < SEND_QUEUE_SIZE:
            self.outbox.append(text)
        else:
            # The client does not read: drop what waits for it and close once the stuck write is done.
            self.outbox.clear()
            self.close(CLOSE_TRY_AGAIN, "the client is not reading fast enough")

    async def _write(self, text: str | None) -> None:
        send = self._send
        try:
            while True:
                if text is None:
                    code, reason = self.closing or (CLOSE_GOING_AWAY, "")
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                    return
                await send({"type": "websocket.send", "text": text})
                if not self.outbox:
                    return
                text = self.outbox.popleft()
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
            raw = b64url_decode(encoded)
            try:
                return raw.decode() if raw is not None else None
            except UnicodeDecodeError:
                return None
    return None


class SocketEndpoint:
    """The ASGI app of one socket module (Phoenix's `socket "/socket", UserSocket`): a Connection per WebSocket."""

    def __init__(self, handler: SocketHandler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            raise ValueError(f"a socket endpoint serves WebSockets, not {scope['type']!r}")
        await Connection(scope, receive, send, self.handler).serve()
