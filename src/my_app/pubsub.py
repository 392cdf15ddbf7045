"""PubSub across nodes (Phoenix.PubSub's role): topics, broadcasts, and adapters that carry them.

`subscribe(topic)` returns a `Subscription`, an async iterator of `Message` (and `Gap`, see below).
`broadcast(topic, event, payload)` reaches every subscriber of the topic on every node;
`broadcast_from(sender, ...)` skips the subscriptions whose `owner` is `sender` (a socket that
must not hear its own message); `local_broadcast` stays on this node.

How a message travels:

- Subscribers on the sending node get it directly, once: no round trip through the adapter.
- The adapter carries it to the other nodes as a JSON envelope `{node, topic, event, payload,
  sender}` on one channel for all topics. A node drops the envelopes it sent itself (by node id),
  so nothing is delivered twice.
- PostgreSQL (the default): one LISTEN connection per node on channel `my_app_pubsub`, publishing
  with `pg_notify` on a second connection. NOTIFY payloads must stay under 8000 bytes, so a larger
  envelope is stored in `pubsub_payloads` and the notification carries only `{ref, node, topic}`;
  receivers read it back. Rows older than `PAYLOAD_TTL` are deleted by publishers as they go.
- Redis (when REDIS_URL is set): pub/sub on channel `my_app_pubsub:<database name>`, so apps (or
  test runs) that share one Redis but not a database never hear each other. No size limit.
- Every node sees the same payload: the subscribers on the sending node receive the payload as
  it comes back from JSON, as the other nodes do (a tuple arrives as a list, everywhere).
  `local_broadcast` never leaves the node, so it delivers the payload object as given.
- A failure to publish (the database or Redis is down) is logged, not raised: as in Phoenix, a
  broadcast is fire-and-forget, and the local subscribers have it already. After such a failure
  the node stops trying for a while (backoff, or until its listener is back), so a broadcast
  never waits on a server that is down. A payload that is not JSON raises TypeError, before
  anyone receives anything.

Gaps: when the adapter's listening connection drops (the server restarts, the connection is
killed), the node reconnects with capped exponential backoff and jitter. Messages sent meanwhile
are lost for this node, so once it listens again every local subscription receives
`Gap(reason="reconnected")`: a subscriber that keeps state (a presence list, a feed) should reload
it. A large payload that could not be read back (expired, or the read failed) yields
`Gap(reason="payload lost")` on that topic's subscriptions.

Slow subscribers (drop-and-disconnect): each subscription has a bounded queue (`DEFAULT_MAXSIZE`
items, or `subscribe(..., maxsize=)`). Delivery never waits: when a subscription's queue is full,
that subscription is closed with `close_reason == "overflow"` and gets nothing more; the others
and the listener carry on. The closed subscription still hands out what it had queued, then
`get()` raises `SubscriptionClosed` and `async for` ends; its owner should close (a channel
process crashing, in Phoenix's terms) or subscribe again and reload its state. A callback
subscription (`on_message=`) has no queue: its callback gets each item at delivery and keeps its
own bounds (a socket channel crashes itself when its client cannot keep up).

Examples:
    with pubsub.subscribe("room:lobby", owner=socket_id) as subscription:
        async for item in subscription:
            if isinstance(item, pubsub.Gap):
                ...  # reload what messages would have told us
            else:
                await push(item.event, item.payload)

    await pubsub.broadcast("room:lobby", "new_msg", {"body": "hi"})
    await pubsub.broadcast_from(socket_id, "room:lobby", "new_msg", {"body": "hi"})  # not to socket_id
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson
import psycopg
import redis.asyncio as aioredis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from my_app import backoff
from my_app.config import Settings

logger = logging.getLogger(__name__)

DEFAULT_MAXSIZE = 1024
CHANNEL = "my_app_pubsub"
# NOTIFY refuses payloads of 8000 bytes or more; envelopes this long or longer go through the table.
NOTIFY_MAX_BYTES = 7900
PAYLOAD_TTL = 300.0  # seconds a stored large payload is kept for late readers
_CLEANUP_INTERVAL = 60.0  # a publisher deletes expired payloads at most this often
RECONNECT_BASE = 0.2
RECONNECT_MAX = 30.0
# A listener that heard nothing for this long checks that its connection still answers.
HEALTH_INTERVAL = 15.0
_PING_TIMEOUT = 5.0
_APPLICATION_NAME = "my_app_pubsub"


@dataclass(frozen=True, slots=True)
class Message:
    """A broadcast, as subscribers receive it."""

    topic: str
    event: str
    payload: Any
    sender: str | None = None  # set by broadcast_from


@dataclass(frozen=True, slots=True)
class Gap:
    """Messages for this subscription may have been lost (the adapter reconnected)."""

    reason: str


class SubscriptionClosed(Exception):  # noqa: N818 - a state, like StopAsyncIteration
    """The subscription is closed and everything it had queued has been read."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(f"subscription closed: {reason}")
        self.reason = reason


class PubSubNotStartedError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("PubSub is not started: call my_app.application.start() first")


def backoff_seconds(attempt: int, *, base: float = RECONNECT_BASE, maximum: float = RECONNECT_MAX) -> float:
    """Wait before reconnect attempt `attempt` (1, 2, ...): base·2^(attempt-1), capped, then jittered.

    The wait is between half and all of that, so nodes that lost the server together do not all
    come back at the same instant.
    """
    return backoff.backoff_seconds(attempt, base=base, maximum=maximum, spread=(0.5, 1.0))


# --- Subscriptions ---


class Subscription:
    """One subscriber's view of a topic: a bounded queue of `Message` and `Gap` items, or a callback.

    A queue subscription is read with `get()` / `async for`. A callback subscription
    (`subscribe(topic, on_message=fn)`) has no queue: each item is handed to `fn` as it is
    delivered, synchronously, so it needs no task of its own waiting on it. That is how socket
    channels listen (20,000 sockets would otherwise mean 20,000 tasks and queues); `fn` must be
    quick and never wait. An exception in `fn` is logged and closes that subscription only
    (`close_reason == "callback failed"`).

    Examples:
        subscription = pubsub.subscribe("room:lobby")
        item = await subscription.get(timeout=5)   # Message or Gap; TimeoutError after 5 s
        subscription.close()
        await subscription.get()                   # raises SubscriptionClosed once drained

        pubsub.subscribe("room:lobby", on_message=lambda item: print(item))
    """

    __slots__ = (
        "_callback",
        "_items",
        "_maxsize",
        "_pubsub",
        "_ready",
        "close_reason",
        "closed",
        "owner",
        "topic",
    )

    def __init__(
        self,
        pubsub: PubSub,
        topic: str,
        owner: str | None,
        maxsize: int,
        on_message: Callable[[Message | Gap], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        self.topic = topic
        self.owner = owner
        self.closed = False
        self.close_reason: str | None = None
        self._pubsub = pubsub
        self._maxsize = maxsize
        self._callback = on_message
        # Only a queue subscription needs a queue and an event to wait on.
        self._items: collections.deque[Message | Gap] | None = None if on_message else collections.deque()
        self._ready: asyncio.Event | None = None if on_message else asyncio.Event()

    def __repr__(self) -> str:
        queued = "a callback" if self._items is None else f"{len(self._items)} queued"
        state = f"closed: {self.close_reason}" if self.closed else queued
        return f"<Subscription {self.topic!r} owner={self.owner!r} ({state})>"

    def close(self, reason: str = "unsubscribed") -> None:
        """Stop receiving; what is queued can still be read. Closing twice keeps the first reason."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._pubsub._forget(self)
        if self._ready is not None:
            self._ready.set()

    async def get(self, timeout: float | None = None) -> Message | Gap:  # noqa: ASYNC109 - asyncio.Queue's shape
        """The next item; raises `SubscriptionClosed` when closed and drained, `TimeoutError` on timeout."""
        if self._items is None or self._ready is None:
            raise TypeError("a callback subscription hands its items to its callback: there is nothing to get")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._items:
                return self._items.popleft()
            if self.closed:
                raise SubscriptionClosed(self.close_reason)
            self._ready.clear()
            if deadline is None:
                await self._ready.wait()
            else:
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - time.monotonic()))

    def qsize(self) -> int:
        """How many items wait to be read (always 0 for a callback subscription)."""
        return 0 if self._items is None else len(self._items)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message | Gap:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _put(self, item: Message | Gap) -> None:
        # Never waits: a full queue closes this subscription (drop-and-disconnect), nobody else's.
        if self.closed:
            return
        if self._callback is not None:
            try:
                self._callback(item)
            except Exception:
                logger.exception("a subscriber to %r failed; closing its subscription", self.topic)
                self.close("callback failed")
            return
        assert self._items is not None  # noqa: S101 - a queue subscription
        assert self._ready is not None  # noqa: S101
        if len(self._items) >= self._maxsize:
            logger.warning("closing a slow subscription to %r (%s queued items)", self.topic, len(self._items))
            self.close("overflow")
            return
        self._items.append(item)
        self._ready.set()


# --- The node ---


class PubSub:
    """One node: its subscriptions and the adapter that links it to the others.

    The module-level functions use one of these (`current()`); tests can run several in one
    process, each with its own adapter, as separate nodes.

    Examples:
        node = PubSub()
        await node.start(PostgresAdapter(database_url))
        subscription = node.subscribe("room:1")
        await node.broadcast("room:1", "new_msg", {"body": "hi"})
        await node.stop()                       # closes its subscriptions ("pubsub stopped")
    """

    def __init__(self) -> None:
        self.node_id = str(uuid.uuid4())
        self.adapter: Adapter | None = None
        self.stopped = False
        self._topics: dict[str, dict[Subscription, None]] = {}

    @property
    def started(self) -> bool:
        return self.adapter is not None and not self.stopped

    @property
    def connected(self) -> bool:
        """True while the adapter listens (this node hears the others)."""
        return self.started and self.adapter is not None and self.adapter.connected

    async def start(self, adapter: Adapter) -> None:
        """Open `adapter`; returns at once, the adapter connects in the background."""
        if self.adapter is not None or self.stopped:
            raise RuntimeError("a PubSub starts once")
        self.adapter = adapter
        await adapter.start(self.node_id, self._receive, self._gap)

    async def stop(self) -> None:
        """Close the adapter and every subscription (reason "pubsub stopped")."""
        if self.stopped:
            return
        self.stopped = True
        try:
            if self.adapter is not None:
                await self.adapter.stop()
        finally:
            for subscriptions in list(self._topics.values()):
                for subscription in list(subscriptions):
                    subscription.close("pubsub stopped")

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the adapter listens; raises TimeoutError after `timeout` seconds."""
        if self.adapter is None:
            raise PubSubNotStartedError()
        await self.adapter.wait_connected(timeout)

    def subscribe(
        self,
        topic: str,
        *,
        owner: str | None = None,
        maxsize: int | None = None,
        on_message: Callable[[Message | Gap], None] | None = None,
    ) -> Subscription:
        subscription = Subscription(self, topic, owner, DEFAULT_MAXSIZE if maxsize is None else maxsize, on_message)
        if self.stopped:
            subscription.close("pubsub stopped")
        else:
            self._topics.setdefault(topic, {})[subscription] = None
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close("unsubscribed")

    def subscriber_count(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))

    async def broadcast(self, topic: str, event: str, payload: Any) -> None:
        await self._broadcast(topic, event, payload, None)

    async def broadcast_from(self, sender: str, topic: str, event: str, payload: Any) -> None:
        await self._broadcast(topic, event, payload, sender)

    def local_broadcast(self, topic: str, event: str, payload: Any, *, sender: str | None = None) -> None:
        self._deliver(Message(topic, event, payload, sender))

    async def _broadcast(self, topic: str, event: str, payload: Any, sender: str | None) -> None:
        if not self.started or self.adapter is None:
            raise PubSubNotStartedError()
        envelope = orjson.dumps(
            {"node": self.node_id, "topic": topic, "event": event, "payload": payload, "sender": sender}
        )
        # The payload as every other node will see it (and a TypeError before anyone got anything).
        self._deliver(Message(topic, event, orjson.loads(envelope)["payload"], sender))
        await self.adapter.publish(topic, envelope)

    def _deliver(self, message: Message) -> None:
        subscriptions = self._topics.get(message.topic)
        if not subscriptions:
            return
        # A copy: a full queue closes its subscription, which removes it from the dict.
        for subscription in tuple(subscriptions):
            if message.sender is None or subscription.owner != message.sender:
                subscription._put(message)

    def _receive(self, envelope: Any) -> None:
        """An envelope from the adapter: deliver it unless this node sent it."""
        if not isinstance(envelope, dict) or envelope.get("node") == self.node_id:
            return
        topic, event, sender = envelope.get("topic"), envelope.get("event"), envelope.get("sender")
        if not isinstance(topic, str) or not isinstance(event, str) or not isinstance(sender, str | None):
            logger.warning("ignoring a malformed PubSub envelope from node %r", envelope.get("node"))
            return
        self._deliver(Message(topic, event, envelope.get("payload"), sender))

    def _gap(self, reason: str, topic: str | None = None) -> None:
        """Tell the topic's subscriptions (every subscription when None) that messages may be lost."""
        gap = Gap(reason)
        topics = [self._topics.get(topic, {})] if topic is not None else list(self._topics.values())
        for subscriptions in topics:
            for subscription in tuple(subscriptions):
                subscription._put(gap)

    def _forget(self, subscription: Subscription) -> None:
        subscriptions = self._topics.get(subscription.topic)
        if subscriptions is not None:
            subscriptions.pop(subscription, None)
            if not subscriptions:
                del self._topics[subscription.topic]


# --- Adapters ---

Receive = Callable[[Any], None]
Missed = Callable[[str, "str | None"], None]


class Adapter(ABC):
    """Carries envelopes between nodes; keeps one listening connection up, reconnecting with backoff.

    Publishing that fails for want of a connection pauses publishing (capped backoff, and until the
    listener is back): broadcasts meanwhile reach this node's subscribers only, at once, rather
    than each waiting for a server that is down.
    """

    name = "adapter"
    # The errors that mean "the server cannot be reached" (others mean this one message was refused).
    connection_errors: tuple[type[Exception], ...] = (OSError,)

    def __init__(self, *, connect_timeout: float = 5.0) -> None:
        self.node_id = ""
        self.connect_timeout = connect_timeout
        self.reconnect_base = RECONNECT_BASE
        self.reconnect_max = RECONNECT_MAX
        self._receive: Receive = _ignore
        self._missed: Missed = _ignore_gap
        self._listening = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._attempt = 0  # failed connections since the last success
        self._failed = False  # True from a failure until the next success has reported a Gap
        self._publish_failures = 0
        self._publish_paused_until = 0.0

    @property
    def connected(self) -> bool:
        return self._listening.is_set()

    @property
    def publish_timeout(self) -> float:
        """The longest a broadcast waits for the server: a connection, then the command."""
        return 2 * self.connect_timeout

    async def start(self, node_id: str, receive: Receive, missed: Missed) -> None:
        self.node_id, self._receive, self._missed = node_id, receive, missed
        self._listener = asyncio.create_task(self._listen_forever(), name=f"{self.name} listener")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self._listening.clear()
        await self._close()

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self._listening.wait(), timeout)

    async def publish(self, topic: str, envelope: bytes) -> None:
        """Send an envelope to every node; a failure is logged, never raised (this node's subscribers have it)."""
        if time.monotonic() < self._publish_paused_until:
            logger.debug("%s is unreachable: %r stays on this node", self.name, topic)
            return
        unreachable: tuple[type[Exception], ...] = (TimeoutError, *self.connection_errors)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation of the
            # caller (a channel being stopped), which then never finishes stopping.
            async with asyncio.timeout(self.publish_timeout):
                await self._publish(topic, envelope)
        except unreachable as exc:
            self._publish_failures += 1
            pause = backoff_seconds(self._publish_failures, base=self.reconnect_base, maximum=self.reconnect_max)
            self._publish_paused_until = time.monotonic() + pause
            logger.warning(
                "could not publish on %s (%s); broadcasts stay on this node for %.1fs", self.name, _describe(exc), pause
            )
        except Exception as exc:
            logger.warning("could not publish on %s: %s", self.name, _describe(exc))
        else:
            self._publish_failures = 0

    @abstractmethod
    async def _publish(self, topic: str, envelope: bytes) -> None:
        """Send the envelope; raise one of `connection_errors` when the server cannot be reached."""

    @abstractmethod
    async def _close(self) -> None:
        """Close what publishing opened."""

    @abstractmethod
    async def _listen(self) -> None:
        """Connect, listen, call `_listening_now()`, then hand envelopes over until the connection fails."""

    def _listening_now(self) -> None:
        self._listening.set()
        self._attempt = 0
        self._publish_paused_until = 0.0  # the server is back
        if self._failed:
            self._failed = False
            logger.info("%s listening again; subscribers may have missed messages", self.name)
            self._missed("reconnected", None)

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except Exception as exc:
                # Any failure (the server restarted, the connection was killed, a bad reply): start over.
                self._listening.clear()
                self._failed = True
                self._attempt += 1
                delay = backoff_seconds(self._attempt, base=self.reconnect_base, maximum=self.reconnect_max)
                logger.warning("%s listener failed (%s); reconnecting in %.1fs", self.name, _describe(exc), delay)
                await asyncio.sleep(delay)


def _ignore(envelope: Any) -> None:  # pragma: no cover - replaced by start()
    pass


def _ignore_gap(reason: str, topic: str | None) -> None:  # pragma: no cover - replaced by start()
    pass


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _decode(raw: str | bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        logger.warning("ignoring a PubSub message that is not JSON: %.80r", raw)
        return None


class PostgresAdapter(Adapter):
    """LISTEN/NOTIFY on one channel; envelopes of `NOTIFY_MAX_BYTES` or more go through `pubsub_payloads`.

    Two connections per node: the listener, and one for publishing (and reading large payloads
    back), opened when first needed.
    """

    name = "PostgreSQL pubsub"
    connection_errors = (psycopg.OperationalError,)

    def __init__(self, conninfo: str, *, connect_timeout: float = 5.0, channel: str = CHANNEL) -> None:
        super().__init__(connect_timeout=connect_timeout)
        self.conninfo = conninfo
        self.channel = channel
        self._publisher: psycopg.AsyncConnection[Any] | None = None
        self._publisher_lock = asyncio.Lock()
        self._last_cleanup = 0.0

    @property
    def application_name(self) -> str:
        """The listening connection's `application_name` (find it in pg_stat_activity)."""
        return f"{_APPLICATION_NAME} {self.node_id}"

    @property
    def publisher_application_name(self) -> str:
        return f"{_APPLICATION_NAME} publisher {self.node_id}"

    async def _connect(self, application_name: str) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self.conninfo,
            autocommit=True,
            application_name=application_name,
            connect_timeout=max(1, round(self.connect_timeout)),
        )

    async def _close(self) -> None:
        async with self._publisher_lock:
            await self._drop_publisher()

    async def _drop_publisher(self) -> None:
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                await self._publisher.close()
            self._publisher = None

    async def _publishing_connection(self) -> tuple[psycopg.AsyncConnection[Any], bool]:
        """The publishing connection, and whether it was opened just now."""
        if self._publisher is not None and not self._publisher.closed and not self._publisher.broken:
            return self._publisher, False
        await self._drop_publisher()
        self._publisher = await self._connect(self.publisher_application_name)
        return self._publisher, True

    async def _publish(self, topic: str, envelope: bytes) -> None:
        async with self._publisher_lock:
            try:
                connection, fresh = await self._publishing_connection()
                try:
                    await self._send(connection, topic, envelope)
                except psycopg.OperationalError:
                    if fresh:
                        raise
                    # It may have died with a server restart: once more, on a new connection.
                    await self._drop_publisher()
                    connection, _ = await self._publishing_connection()
                    await self._send(connection, topic, envelope)
            except BaseException:
                # Cancelled (timed out) mid-command, or broken: its state is unknown, start afresh.
                await self._drop_publisher()
                raise

    async def _send(self, connection: psycopg.AsyncConnection[Any], topic: str, envelope: bytes) -> None:
        if len(envelope) < NOTIFY_MAX_BYTES:
            await connection.execute("SELECT pg_notify(%s, %s)", (self.channel, envelope.decode()))
            return
        # One statement, one transaction: the row is committed by the time anyone is notified.
        await connection.execute(
            "WITH stored AS (INSERT INTO pubsub_payloads (envelope) VALUES (%s::json) RETURNING id)"
            " SELECT pg_notify(%s, json_build_object('ref', id, 'node', %s::text, 'topic', %s::text)::text)"
            " FROM stored",
            (envelope.decode(), self.channel, self.node_id, topic),
        )
        if time.monotonic() - self._last_cleanup > _CLEANUP_INTERVAL:
            self._last_cleanup = time.monotonic()
            await connection.execute(
                "DELETE FROM pubsub_payloads WHERE inserted_at < now() - make_interval(secs => %s)", (PAYLOAD_TTL,)
            )

    async def _listen(self) -> None:
        connection = await self._connect(self.application_name)
        try:
            await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._listening_now()
            while True:
                async for notify in connection.notifies(timeout=HEALTH_INTERVAL):
                    await self._handle(notify.payload)
                # Quiet for a while: make sure the server still answers (a half-open connection hears nothing).
                await asyncio.wait_for(connection.execute("SELECT 1"), _PING_TIMEOUT)
        finally:
            self._listening.clear()
            with contextlib.suppress(Exception):
                await connection.close()

    async def _handle(self, raw: str) -> None:
        envelope = _decode(raw)
        if isinstance(envelope, dict) and "ref" in envelope:
            if envelope.get("node") == self.node_id:
                return  # our own large message: its subscribers here have it
            envelope = await self._fetch(envelope)
        if envelope is not None:
            self._receive(envelope)

    async def _fetch(self, reference: dict[str, Any]) -> Any:
        """The envelope a `{ref, node, topic}` notification points at (None, and a Gap, if it is gone)."""
        row: tuple[str] | None = None
        try:
            async with asyncio.timeout(self.publish_timeout):
                row = await self._read_stored(reference.get("ref"))
        except (TimeoutError, psycopg.Error) as exc:
            logger.warning("could not read large PubSub payload %s: %s", reference.get("ref"), _describe(exc))
        else:
            if row is None:
                logger.warning("large PubSub payload %s is gone (older than %ss?)", reference.get("ref"), PAYLOAD_TTL)
        if row is None:
            if isinstance(reference.get("topic"), str):
                self._missed("payload lost", reference["topic"])
            return None
        return _decode(row[0])

    async def _read_stored(self, ref: Any) -> tuple[str] | None:
        async with self._publisher_lock:
            try:
                connection, _ = await self._publishing_connection()
                cursor = await connection.execute("SELECT envelope::text FROM pubsub_payloads WHERE id = %s", (ref,))
                return await cursor.fetchone()
            except BaseException:
                await self._drop_publisher()
                raise


class RedisAdapter(Adapter):
    """Redis pub/sub on one channel; the listener is a dedicated connection named after the node."""

    name = "Redis pubsub"
    connection_errors = (RedisConnectionError, RedisTimeoutError)

    def __init__(self, url: str, *, channel: str = CHANNEL, connect_timeout: float = 5.0) -> None:
        super().__init__(connect_timeout=connect_timeout)
        self.url = url
        self.channel = channel
        # One retry (a connection that died with a Redis restart), not redis-py's ten: a broadcast
        # while Redis is down must give up within a few seconds.
        self._publisher = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.connect_timeout,
            retry=Retry(NoBackoff(), 1),
        )

    @property
    def client_name(self) -> str:
        """The listening connection's name (find it with CLIENT LIST TYPE pubsub)."""
        return f"{_APPLICATION_NAME}:{self.node_id}"

    async def _close(self) -> None:
        await self._publisher.aclose()

    async def _publish(self, topic: str, envelope: bytes) -> None:
        await self._publisher.publish(self.channel, envelope)

    async def _listen(self) -> None:
        # No retries inside redis-py: a lost connection must surface here, so subscribers get a Gap.
        client = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.connect_timeout,
            client_name=self.client_name,
            retry=Retry(NoBackoff(), 0),
        )
        subscriber = client.pubsub()
        try:
            await subscriber.subscribe(self.channel)
            confirmation = await subscriber.get_message(timeout=self.connect_timeout)
            if not confirmation or confirmation.get("type") != "subscribe":
                raise RedisConnectionError(f"no confirmation of SUBSCRIBE {self.channel}")
            self._listening_now()
            heard = time.monotonic()
            pinged: float | None = None
            while True:
                message = await subscriber.get_message(timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    heard, pinged = now, None
                    if message.get("type") == "message":
                        envelope = _decode(message["data"])
                        if envelope is not None:
                            self._receive(envelope)
                elif pinged is not None and now - pinged > _PING_TIMEOUT:
                    raise RedisConnectionError("Redis did not answer PING")
                elif pinged is None and now - heard > HEALTH_INTERVAL:
                    await subscriber.ping()
                    pinged = now
        finally:
            self._listening.clear()
            with contextlib.suppress(Exception):
                await subscriber.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            with contextlib.suppress(Exception):
                await client.aclose()


def adapter_for(settings: Settings, database_url: str) -> Adapter:
    """Redis when REDIS_URL is set, PostgreSQL (the app's database) otherwise."""
    if settings.redis_url:
        database_name = conninfo_to_dict(database_url).get("dbname") or "postgres"
        return RedisAdapter(
            settings.redis_url,
            channel=f"{CHANNEL}:{database_name}",
            connect_timeout=settings.database_connect_timeout,
        )
    return PostgresAdapter(database_url, connect_timeout=settings.database_connect_timeout)


# --- The node the app uses ---

_current = PubSub()
# A PubSub started while another runs (a second Application in a test) replaces it until stopped.
_outer: list[PubSub] = []


def current() -> PubSub:
    """The node the module-level functions use."""
    return _current


async def start(settings: Settings, database_url: str) -> None:
    """Start this process's node on the adapter `settings` choose (returns before it connects)."""
    global _current
    if _current.started:
        _outer.append(_current)
        _current = PubSub()
    await _current.start(adapter_for(settings, database_url))


async def stop() -> None:
    """Stop the node (closing its subscriptions); a fresh, unstarted one takes its place."""
    global _current
    try:
        await _current.stop()
    finally:
        _current = _outer.pop() if _outer else PubSub()


def subscribe(
    topic: str,
    *,
    owner: str | None = None,
    maxsize: int | None = None,
    on_message: Callable[[Message | Gap], None] | None = None,
) -> Subscription:
    """Subscribe to `topic` on this node; `owner` (e.g. a socket id) is what broadcast_from skips.

    With `on_message`, each item is passed to that function as it is delivered (no queue, no task);
    without, read the subscription's queue.

    Examples:
        subscription = pubsub.subscribe("room:lobby", owner="socket-1")
        await subscription.get(timeout=5)        # Message(topic="room:lobby", event=..., payload=...)
        pubsub.subscribe("t", maxsize=0)          # ValueError: maxsize must be at least 1
        pubsub.subscribe("room:lobby", on_message=handle)   # handle(Message | Gap), called on delivery
    """
    return _current.subscribe(topic, owner=owner, maxsize=maxsize, on_message=on_message)


def unsubscribe(subscription: Subscription) -> None:
    """Close `subscription` (reason "unsubscribed"); what it had queued can still be read."""
    subscription.close("unsubscribed")


async def broadcast(topic: str, event: str, payload: Any) -> None:
    """Send to every subscriber of `topic` on every node.

    Examples:
        await pubsub.broadcast("room:1", "new_msg", {"body": "hi"})
        await pubsub.broadcast("room:1", "x", object())    # TypeError: not JSON; nobody got anything
        await pubsub.broadcast(...)                        # PubSubNotStartedError before start()
    """
    await _current.broadcast(topic, event, payload)


async def broadcast_from(sender: str, topic: str, event: str, payload: Any) -> None:
    """Like `broadcast`, but not to the subscriptions whose owner is `sender` (on any node)."""
    await _current.broadcast_from(sender, topic, event, payload)


def local_broadcast(topic: str, event: str, payload: Any, *, sender: str | None = None) -> None:
    """Send to this node's subscribers of `topic` only (the payload is not copied)."""
    _current.local_broadcast(topic, event, payload, sender=sender)


def node_id() -> str:
    """This node's id (a uuid, new for each started PubSub)."""
    return _current.node_id


def subscriber_count(topic: str) -> int:
    """How many open subscriptions `topic` has on this node."""
    return _current.subscriber_count(topic)


def connected() -> bool:
    """True while this node's adapter listens (for readiness checks)."""
    return _current.connected
