"""A PubSub node: its subscriptions by topic, delivery to them, and the adapter that links it to other nodes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from my_app.metrics import PUBSUB_MESSAGES
from my_app.pubsub.adapter import DROPPED_MALFORMED, Adapter
from my_app.pubsub.subscription import Gap, Message, Subscription

logger = logging.getLogger(__name__)

DEFAULT_MAXSIZE = 1024  # items a queue subscription holds before it is closed as "overflow"

# Counted once per broadcast (delivered: by how many subscriptions took it), never once per subscriber:
# a broadcast to 20,000 sockets must not pay 20,000 counter updates.
_SENT = PUBSUB_MESSAGES.labels(direction="sent")
_DELIVERED = PUBSUB_MESSAGES.labels(direction="delivered")


class PubSubNotStartedError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("PubSub is not started: call my_app.application.start() first")


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
        _SENT.inc()
        self._deliver(Message(topic, event, payload, sender))

    async def _broadcast(self, topic: str, event: str, payload: Any, sender: str | None) -> None:
        if not self.started or self.adapter is None:
            raise PubSubNotStartedError()
        envelope = orjson.dumps(
            {"node": self.node_id, "topic": topic, "event": event, "payload": payload, "sender": sender}
        )
        # The payload as every other node will see it (and a TypeError before anyone got anything).
        _SENT.inc()
        self._deliver(Message(topic, event, orjson.loads(envelope)["payload"], sender))
        await self.adapter.publish(topic, envelope)

    def _deliver(self, message: Message) -> None:
        subscriptions = self._topics.get(message.topic)
        if not subscriptions:
            return
        # A copy: a full queue closes its subscription, which removes it from the dict.
        delivered = 0
        for subscription in tuple(subscriptions):
            if message.sender is None or subscription.owner != message.sender:
                delivered += subscription._put(message)
        if delivered:
            _DELIVERED.inc(delivered)

    def _receive(self, envelope: Any) -> None:
        """An envelope from the adapter: deliver it unless this node sent it."""
        if not isinstance(envelope, dict):
            DROPPED_MALFORMED.inc()
            return
        if envelope.get("node") == self.node_id:
            return
        topic, event, sender = envelope.get("topic"), envelope.get("event"), envelope.get("sender")
        if not isinstance(topic, str) or not isinstance(event, str) or not isinstance(sender, str | None):
            logger.warning("ignoring a malformed PubSub envelope from node %r", envelope.get("node"))
            DROPPED_MALFORMED.inc()
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
