"""Presence (Phoenix.Presence): who is in each topic, on every node, as the JS client expects it.

`track(topic, key, meta, owner)` records a presence on this node; `list_presences(topic)` merges every node's
presences into `{key: {"metas": [meta, ...]}}` (one key per user, one meta per tab/socket), the
shape `Presence.syncState` consumes. Each change reaches the topic's local subscribers as a
`presence_diff` broadcast `{"joins": {...}, "leaves": {...}}` (`Presence.syncDiff`'s shape).

Across nodes, each node replicates its own presences over PubSub on `REPLICATION_TOPIC`:
- every change is sent with the node's clock (a counter); a receiver that sees a gap in a node's
  clock, or is told by PubSub that it may have missed messages, asks that node for its state;
- every `HEARTBEAT_INTERVAL` a node announces its clock; a node silent for `NODE_TIMEOUT` is
  considered dead and its presences leave everywhere (a `presence_diff` with the leaves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from my_app import pubsub

logger = logging.getLogger(__name__)

REPLICATION_TOPIC = "phx_presence:replication"
HEARTBEAT_INTERVAL = 2.0
NODE_TIMEOUT = 6.0

# topic -> key -> phx_ref -> meta
State = dict[str, dict[str, dict[str, dict[str, Any]]]]


@dataclass
class _Remote:
    state: State
    clock: int
    seen: float = field(default_factory=time.monotonic)


def new_ref() -> str:
    """A unique reference for one tracked presence (the meta's `phx_ref`)."""
    return secrets.token_urlsafe(12)


def _diff(joins: State | None = None, leaves: State | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Per topic: `{"joins": {key: {"metas": [...]}}, "leaves": {...}}`."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for side, state in (("joins", joins or {}), ("leaves", leaves or {})):
        for topic, keys in state.items():
            for key, metas in keys.items():
                if metas:
                    entry = out.setdefault(topic, {"joins": {}, "leaves": {}})
                    entry[side][key] = {"metas": list(metas.values())}
    return out


def _subtract(a: State, b: State) -> State:
    """What `a` has that `b` has not (by topic, key and phx_ref)."""
    out: State = {}
    for topic, keys in a.items():
        for key, metas in keys.items():
            missing = {ref: meta for ref, meta in metas.items() if ref not in b.get(topic, {}).get(key, {})}
            if missing:
                out.setdefault(topic, {})[key] = missing
    return out


class Tracker:
    """This node's presences and its replicas of the other nodes'."""

    def __init__(self) -> None:
        self.local: State = {}
        self.owners: dict[str, set[tuple[str, str, str]]] = {}  # owner -> {(topic, key, phx_ref)}
        self.remotes: dict[str, _Remote] = {}
        self.clock = 0
        self._subscription: pubsub.Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._starts = 0

    # --- Lifecycle ---

    async def start(self) -> None:
        # A second Application in the same process (tests) shares the tracker: only the first starts it.
        self._starts += 1
        if self._starts > 1:
            return
        self._subscription = pubsub.subscribe(REPLICATION_TOPIC, owner="presence")
        self._tasks = [
            asyncio.create_task(self._receive(self._subscription), name="presence replication"),
            asyncio.create_task(self._heartbeat(), name="presence heartbeat"),
        ]
        await self._send("sync_request", target=None)

    async def stop(self) -> None:
        self._starts = max(0, self._starts - 1)
        if self._starts > 0:
            return
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            pubsub.unsubscribe(subscription)
        # Tell the other nodes at once rather than letting them time out.
        with contextlib.suppress(Exception):
            await self._send("down")
        self.local, self.owners, self.remotes = {}, {}, {}

    # --- Tracking ---

    async def track(self, topic: str, key: str, meta: dict[str, Any], *, owner: str) -> str:
        """Record a presence for `key` in `topic`; returns its phx_ref. Untracked with its owner."""
        ref = new_ref()
        full_meta = {**meta, "phx_ref": ref}
        self.local.setdefault(topic, {}).setdefault(key, {})[ref] = full_meta
        self.owners.setdefault(owner, set()).add((topic, key, ref))
        joins: State = {topic: {key: {ref: full_meta}}}
        self._announce(joins=joins)
        await self._send("change", joins=joins)
        return ref

    async def untrack_owner(self, owner: str) -> None:
        """Remove every presence tracked by `owner` (a channel that left or whose socket closed)."""
        leaves: State = {}
        for topic, key, ref in self.owners.pop(owner, set()):
            metas = self.local.get(topic, {}).get(key, {})
            meta = metas.pop(ref, None)
            if meta is not None:
                leaves.setdefault(topic, {}).setdefault(key, {})[ref] = meta
            if not metas:
                self.local.get(topic, {}).pop(key, None)
            if not self.local.get(topic):
                self.local.pop(topic, None)
        if leaves:
            self._announce(leaves=leaves)
            await self._send("change", leaves=leaves)

    def list(self, topic: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Everyone in `topic`, on every live node: `{key: {"metas": [...]}}`."""
        merged: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for state in (self.local, *(remote.state for remote in self.remotes.values())):
            for key, metas in state.get(topic, {}).items():
                if metas:
                    merged.setdefault(key, {"metas": []})["metas"].extend(metas.values())
        return merged

    # --- Replication ---

    def _announce(self, *, joins: State | None = None, leaves: State | None = None) -> None:
        for topic, diff in _diff(joins, leaves).items():
            pubsub.local_broadcast(topic, "presence_diff", diff)

    async def _send(self, op: str, **fields: Any) -> None:
        if op == "change":
            self.clock += 1
        await pubsub.broadcast(REPLICATION_TOPIC, op, {"node": pubsub.node_id(), "clock": self.clock, **fields})

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            try:
                await self._send("heartbeat")
            except Exception:
                logger.warning("presence heartbeat could not be sent", exc_info=True)
            self._expire(time.monotonic())

    def _expire(self, now: float) -> None:
        for node, remote in list(self.remotes.items()):
            if now - remote.seen > NODE_TIMEOUT:
                logger.warning("presence: node %s is silent; its presences leave", node)
                self._drop(node)

    def _drop(self, node: str) -> None:
        remote = self.remotes.pop(node, None)
        if remote is not None:
            self._announce(leaves=remote.state)

    async def _receive(self, subscription: pubsub.Subscription) -> None:
        while True:
            try:
                item = await subscription.get()
            except pubsub.SubscriptionClosed:
                if self._subscription is not subscription:
                    return  # stopped
                # Dropped for falling behind (a burst of joins): subscribe again and ask every node
                # for its whole state, so what was missed is made up.
                logger.warning("presence replication fell behind (%s); resyncing", subscription.close_reason)
                subscription = self._subscription = pubsub.subscribe(REPLICATION_TOPIC, owner="presence")
                await self._send("sync_request", target=None)
                continue
            try:
                if isinstance(item, pubsub.Gap):
                    await self._send("sync_request", target=None)
                else:
                    await self._apply(item.event, item.payload)
            except Exception:
                logger.exception("presence could not apply %r", item)

    async def _apply(self, op: str, message: dict[str, Any]) -> None:
        node = message.get("node")
        if not isinstance(node, str) or node == pubsub.node_id():
            return
        clock = int(message.get("clock", 0))
        remote = self.remotes.get(node)
        if op == "down":
            self._drop(node)
        elif op == "sync_request":
            if message.get("target") in (None, pubsub.node_id()):
                await self._send("state", state=self.local, target=node)
        elif op == "state":
            self._replace(node, message.get("state") or {}, clock)
        elif op == "change":
            if remote is None or clock != remote.clock + 1:
                # A change we cannot place: start from the node's whole state instead.
                await self._send("sync_request", target=node)
                return
            remote.clock, remote.seen = clock, time.monotonic()
            self._merge(remote.state, message.get("joins") or {}, message.get("leaves") or {})
            self._announce(joins=message.get("joins"), leaves=message.get("leaves"))
        elif op == "heartbeat":
            if remote is None or remote.clock != clock:
                await self._send("sync_request", target=node)
            else:
                remote.seen = time.monotonic()

    def _replace(self, node: str, state: State, clock: int) -> None:
        previous = self.remotes[node].state if node in self.remotes else {}
        self.remotes[node] = _Remote(state=state, clock=clock)
        self._announce(joins=_subtract(state, previous), leaves=_subtract(previous, state))

    @staticmethod
    def _merge(state: State, joins: State, leaves: State) -> None:
        for topic, keys in joins.items():
            for key, metas in keys.items():
                state.setdefault(topic, {}).setdefault(key, {}).update(metas)
        for topic, keys in leaves.items():
            for key, metas in keys.items():
                current = state.get(topic, {}).get(key, {})
                for ref in metas:
                    current.pop(ref, None)
                if not current:
                    state.get(topic, {}).pop(key, None)


tracker = Tracker()


async def track(topic: str, key: str, meta: dict[str, Any], *, owner: str) -> str:
    return await tracker.track(topic, key, meta, owner=owner)


async def untrack_owner(owner: str) -> None:
    await tracker.untrack_owner(owner)


def list_presences(topic: str) -> dict[str, dict[str, Any]]:
    """Presence.list/1: everyone in `topic` on every node."""
    return tracker.list(topic)


def topics() -> Iterable[str]:
    return tracker.local.keys()
