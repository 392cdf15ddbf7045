"""One joined topic (a channel process, Phoenix's Channel.Server): its channel, its subscription, its inbox.

A `Connection` makes one `ChannelServer` per joined topic. It has no task while idle: what the
channel must handle queues in its inbox, and a task runs while there is something to handle, one
item at a time. Broadcasts the channel does not intercept go straight to the socket (the fastlane).

Limits (the socket's own are in `connection.py`):
- more than `CHANNEL_BACKLOG` items waiting for a busy channel: it crashes (`phx_error`), and the
  client rejoins and gets a fresh state (the broadcasts it never handled are counted in
  `pubsub_dropped_messages_total{reason="channel_backlog"}`);
- a channel task still running `CANCEL_GRACE` seconds after it was cancelled is cancelled again,
  at most `CANCEL_ATTEMPTS` times (then it is left behind, logged): a socket's clean-up never hangs
  on it.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
from typing import Any, Protocol

from my_app import pubsub
from my_app.metrics import PUBSUB_DROPPED
from my_app_web.channels.channel import Channel, ChannelSocket, PushPayload, Refuse, Reply
from my_app_web.channels.serializer import Frame

logger = logging.getLogger(__name__)

CHANNEL_BACKLOG = 1024  # items waiting for a busy channel: then it crashes (phx_error)
CANCEL_GRACE = 1.0
CANCEL_ATTEMPTS = 5
# Broadcasts a channel never handled: they piled up behind it (it crashes, its client rejoins).
_DROPPED_BACKLOG = PUBSUB_DROPPED.labels(reason="channel_backlog")


class Connection(Protocol):
    """What a channel server needs of its socket (`connection.Connection`, which imports this module)."""

    assigns: dict[str, Any]
    context: contextvars.Context

    def next_owner(self) -> str: ...

    def send(self, frame: Frame) -> None: ...

    def send_broadcast(self, topic: str, message: pubsub.Message) -> None: ...

    def reply(self, join_ref: str | None, ref: str | None, topic: str, reply: Reply) -> None: ...

    async def remove_channel(self, server: ChannelServer, *, reason: str, notify: bool) -> None: ...


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
            if self.overflowed and not self.stopped:  # waiting for its crash: this one is lost too
                _DROPPED_BACKLOG.inc()
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
            _DROPPED_BACKLOG.inc()
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
