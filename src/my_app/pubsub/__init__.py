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
  receivers read it back. Rows older than `postgres.PAYLOAD_TTL` are deleted by publishers as they go.
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

Slow subscribers (drop-and-disconnect): each subscription has a bounded queue (`node.DEFAULT_MAXSIZE`
items, or `subscribe(..., maxsize=)`). Delivery never waits: when a subscription's queue is full,
that subscription is closed with `close_reason == "overflow"` and gets nothing more; the others
and the listener carry on. The closed subscription still hands out what it had queued, then
`get()` raises `SubscriptionClosed` and `async for` ends; its owner should close (a channel
process crashing, in Phoenix's terms) or subscribe again and reload its state. A callback
subscription (`on_message=`) has no queue: its callback gets each item at delivery and keeps its
own bounds (a socket channel crashes itself when its client cannot keep up).

Metrics (`my_app.metrics`): `pubsub_messages_total{direction="sent"}` counts the broadcasts made
on this node (local ones too), `{direction="delivered"}` each message handed to a subscription
here (queued, or given to its callback). `pubsub_dropped_messages_total{reason}` counts messages
someone never got: `overflow` (a queue subscription was full and is closed), `unpublished` (the
other nodes were not reached: publishing failed or is paused), `payload_lost` (a large payload
could not be read back), `malformed` (an envelope that is not one of ours); the socket layer adds
its own (`my_app_web.channels`).

The package: this module is the API the app uses (the functions below act on this process's node,
`current()`, installed by the Application in `running`); `subscription.py` (`Subscription`,
`Message`, `Gap`), `node.py` (`PubSub`, one node), `adapter.py` (the adapter base: reconnecting,
backoff, pausing publishes), `postgres.py` and `redis.py` (the two adapters; redis-py is imported
only when REDIS_URL picks Redis).

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

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from my_app.config import Settings
from my_app.pubsub.adapter import CHANNEL, Adapter, backoff_seconds
from my_app.pubsub.node import PubSub, PubSubNotStartedError
from my_app.pubsub.postgres import PostgresAdapter
from my_app.pubsub.subscription import Gap, Message, Subscription, SubscriptionClosed
from my_app.running import Slot

logger = logging.getLogger(__name__)

__all__ = [
    "Adapter",
    "Gap",
    "Message",
    "PostgresAdapter",
    "PubSub",
    "PubSubNotStartedError",
    "Subscription",
    "SubscriptionClosed",
    "adapter_for",
    "announce",
    "backoff_seconds",
    "broadcast",
    "broadcast_from",
    "connected",
    "current",
    "local_broadcast",
    "node_id",
    "running",
    "start_node",
    "started",
    "subscribe",
    "subscriber_count",
    "unsubscribe",
]


def adapter_for(settings: Settings, database_url: str) -> Adapter:
    """Redis when REDIS_URL is set, PostgreSQL (the app's database) otherwise.

    The Redis adapter (and redis-py) is imported here, only when it is chosen.
    """
    if settings.redis_url:
        from my_app.pubsub.redis import RedisAdapter  # here: redis-py only when Redis is used

        database_name = conninfo_to_dict(database_url).get("dbname") or "postgres"
        return RedisAdapter(
            settings.redis_url,
            channel=f"{CHANNEL}:{database_name}",
            connect_timeout=settings.database_connect_timeout,
        )
    return PostgresAdapter(database_url, connect_timeout=settings.database_connect_timeout)


# --- The node the app uses ---

# The running app's node (the Application puts it here as it starts, `my_app.running`); an unstarted
# one before, so the functions below raise PubSubNotStartedError rather than AttributeError.
running: Slot[PubSub] = Slot("pubsub", PubSub())


def current() -> PubSub:
    """The node the module-level functions use (the running app's)."""
    return running.value


async def start_node(settings: Settings, database_url: str) -> PubSub:
    """A new node, started on the adapter `settings` choose (returns before it connects).

    The Application makes its node with this and installs it in `running`; `started()` does both
    for a process that needs PubSub alone.
    """
    node = PubSub()
    await node.start(adapter_for(settings, database_url))
    return node


@asynccontextmanager
async def started(settings: Settings, database_url: str) -> AsyncIterator[PubSub]:
    """A node of its own for the block (no Repo, no jobs): the module's functions use it, then the previous one.

    Examples:
        async with pubsub.started(settings, url) as node:   # a process that only relays messages
            await node.wait_connected(10)
    """
    node = await start_node(settings, database_url)
    try:
        with running.holding(node):
            yield node
    finally:
        await node.stop()


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
    return running.value.subscribe(topic, owner=owner, maxsize=maxsize, on_message=on_message)


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
    await running.value.broadcast(topic, event, payload)


async def announce(topic: str, event: str, payload: Any) -> None:
    """Broadcast a write that has committed (a context's `{event, id}`): never raises. A PubSub that
    is not running (a CLI run without one) or a payload it refuses is logged; the write stays done.

    Examples:
        await pubsub.announce("users", "user_updated", {"id": str(user.id)})
    """
    try:
        await broadcast(topic, event, payload)
    except Exception:
        logger.warning("could not announce %s on %s", event, topic, exc_info=True)


async def broadcast_from(sender: str, topic: str, event: str, payload: Any) -> None:
    """Like `broadcast`, but not to the subscriptions whose owner is `sender` (on any node)."""
    await running.value.broadcast_from(sender, topic, event, payload)


def local_broadcast(topic: str, event: str, payload: Any, *, sender: str | None = None) -> None:
    """Send to this node's subscribers of `topic` only (the payload is not copied)."""
    running.value.local_broadcast(topic, event, payload, sender=sender)


def node_id() -> str:
    """This node's id (a uuid, new for each started PubSub)."""
    return running.value.node_id


def subscriber_count(topic: str) -> int:
    """How many open subscriptions `topic` has on this node."""
    return running.value.subscriber_count(topic)


def connected() -> bool:
    """True while this node's adapter listens (for readiness checks)."""
    return running.value.connected
