"""Subscriptions: what a subscriber receives (`Message`, `Gap`), from a bounded queue or a callback."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from my_app.metrics import PUBSUB_DROPPED

logger = logging.getLogger(__name__)


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


class Node(Protocol):
    """Where a subscription is registered (`node.PubSub`, which imports this module)."""

    def _forget(self, subscription: Subscription) -> None: ...


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
        pubsub: Node,
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

    def _put(self, item: Message | Gap) -> bool:
        """Hand `item` over: True once the callback has it or it is queued, False when it is not
        (closed; or dropped, the queue being full: `pubsub_dropped_messages_total{reason="overflow"}`)."""
        # Never waits: a full queue closes this subscription (drop-and-disconnect), nobody else's.
        if self.closed:
            return False
        if self._callback is not None:
            try:
                self._callback(item)
            except Exception:
                logger.exception("a subscriber to %r failed; closing its subscription", self.topic)
                self.close("callback failed")
            return True
        assert self._items is not None  # noqa: S101 - a queue subscription
        assert self._ready is not None  # noqa: S101
        if len(self._items) >= self._maxsize:
            logger.warning("closing a slow subscription to %r (%s queued items)", self.topic, len(self._items))
            if isinstance(item, Message):
                _DROPPED_OVERFLOW.inc()
            self.close("overflow")
            return False
        self._items.append(item)
        self._ready.set()
        return True


_DROPPED_OVERFLOW = PUBSUB_DROPPED.labels(reason="overflow")
