"""Presence (Phoenix.Presence): who is in each topic, on every node, as the JS client expects it.

`track(topic, key, meta, owner)` records a presence on this node; `list_presences(topic)` merges every node's
presences into `{key: {"metas": [meta, ...]}}` (one key per user, one meta per tab/socket), the
shape `Presence.syncState` consumes. It is accurate at once: a socket that has just tracked
itself finds itself listed.

Changes are batched. Joins and leaves (tracked here, or heard from other nodes) wait in a
pending diff per topic; one timer, started by the first change after a flush, flushes every
topic one period later: each changed topic's local subscribers get one `presence_diff`
broadcast `{"joins": {...}, "leaves": {...}}` (`Presence.syncDiff`'s shape). A presence that
joined and left within one period is left out of both sides, unless someone listed the topic
meanwhile (then its leave is sent, so their list loses it too). The period is `BROADCAST_PERIOD`,
lengthened (up to `MAX_BROADCAST_PERIOD`) while flushes are slow: a flush writes one frame to
every subscriber of each changed topic, so in a room of N sockets it costs O(N), and the next
period lasts at least the last flush's duration divided by `FLUSH_SHARE`.

Across nodes, each node replicates its own presences over PubSub on `REPLICATION_TOPIC`:
- each flush sends one change (this node's joins and leaves since the last one, every topic)
  with the node's clock (a counter, one step per change); a receiver that sees a gap in a
  node's clock, or is told by PubSub that it may have missed messages, asks that node for its
  state. A node answering such a request sends its pending change first, so its state and its
  clock agree;
- every `HEARTBEAT_INTERVAL` a node announces its clock; a node silent for `NODE_TIMEOUT` is
  considered dead and its presences leave everywhere (a `presence_diff` with the leaves).

`track()` never waits for the network: a change that cannot be sent is logged, and the other
nodes catch up through the clock gap it leaves.

`presences_tracked` (`my_app.metrics`) counts the presences this node tracks: one more at each
`track`, one fewer as each leaves (`untrack_owner`, which a channel calls as it ends, however its
socket went away), and the rest when the tracker stops. Other nodes' presences are theirs to count.
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

import orjson

from my_app import pubsub
from my_app.metrics import PRESENCES_TRACKED
from my_app.running import Slot

logger = logging.getLogger(__name__)

REPLICATION_TOPIC = "phx_presence:replication"
HEARTBEAT_INTERVAL = 2.0
NODE_TIMEOUT = 6.0
# Phoenix.Tracker batches its deltas too: it sends them across the cluster every `broadcast_period`
# (1.5 s by default). We batch the local presence_diffs as well, so the period must stay below
# what a person notices (a join shows within 50 ms), yet it turns a burst of N joins into one
# diff per topic (one frame per socket) instead of N, and one replication message instead of N.
BROADCAST_PERIOD = 0.05
# In a large room a flush costs one frame per socket: 10,000 sockets take about 0.1 s of this
# process's time. At a fixed 50 ms period a burst of joins would take all of it (and everything
# else on the node, the joins themselves included, would wait behind the flushes), so the period
# stretches to keep flushes to about FLUSH_SHARE of the time: a join shows later in a big room
# (within MAX_BROADCAST_PERIOD, Phoenix.Tracker's own default period), and the same joins reach
# everyone in fewer, larger diffs.
FLUSH_SHARE = 0.2
MAX_BROADCAST_PERIOD = 1.5

# topic -> key -> phx_ref -> meta
State = dict[str, dict[str, dict[str, dict[str, Any]]]]
# key -> phx_ref -> meta (one topic's part of a State)
Keys = dict[str, dict[str, dict[str, Any]]]


@dataclass
class _Remote:
    state: State
    clock: int
    seen: float = field(default_factory=time.monotonic)


@dataclass
class _PendingDiff:
    """One topic's joins and leaves since the last flush."""

    joins: Keys = field(default_factory=dict)
    leaves: Keys = field(default_factory=dict)
    # phx_ref -> the tracker's `_seq` at its join (0: subscribers knew it before this period)
    joined_at: dict[str, int] = field(default_factory=dict)
    listed_at: int = 0  # the tracker's `_seq` when the topic was last listed


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


def _copy(state: State) -> State:
    """A copy that later changes to `state` leave alone (the metas themselves are never changed)."""
    return {topic: {key: dict(metas) for key, metas in keys.items()} for topic, keys in state.items()}


def _add(state: State, topic: str, key: str, ref: str, meta: dict[str, Any]) -> None:
    state.setdefault(topic, {}).setdefault(key, {})[ref] = meta


def _discard(keys: Keys, key: str, ref: str) -> bool:
    """Remove `ref` from `keys[key]` (and the key once empty); whether it was there."""
    metas = keys.get(key)
    if metas is None or metas.pop(ref, None) is None:
        return False
    if not metas:
        del keys[key]
    return True


class Tracker:
    """This node's presences and its replicas of the other nodes'.

    It uses `node` (a `pubsub.PubSub`) when given one, else the app's node (`pubsub.current()`).
    """

    def __init__(self, node: pubsub.PubSub | None = None) -> None:
        self.local: State = {}
        self.owners: dict[str, set[tuple[str, str, str]]] = {}  # owner -> {(topic, key, phx_ref)}
        self.remotes: dict[str, _Remote] = {}
        self.clock = 0
        self.heartbeat_interval = HEARTBEAT_INTERVAL  # read as each beat starts (tests lengthen it)
        self._node = node
        self._subscription: pubsub.Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Waiting to be flushed: the diffs for local subscribers, and this node's changes for the others.
        self._pending: dict[str, _PendingDiff] = {}
        self._outgoing_joins: State = {}
        self._outgoing_leaves: State = {}
        self._seq = 0  # counts recorded joins, to tell which ones a list() has shown
        self._timer: asyncio.TimerHandle | None = None
        self.period = BROADCAST_PERIOD  # until the next flush: see FLUSH_SHARE
        self._sending: set[asyncio.Task[None]] = set()
        # topic -> its list, encoded: what every socket joining before the topic's next flush is sent.
        self._encoded_lists: dict[str, orjson.Fragment] = {}
        # Replication messages are made and sent holding this lock, so they leave in clock order (a
        # heartbeat never overtakes the change it counts), whatever the adapter does with
        # concurrent publishes.
        self._send_lock = asyncio.Lock()

    @property
    def pubsub_node(self) -> pubsub.PubSub:
        return self._node if self._node is not None else pubsub.current()

    # --- Lifecycle ---

    async def start(self) -> None:
        self._send_lock = asyncio.Lock()  # a fresh one for this event loop
        self._subscription = self.pubsub_node.subscribe(REPLICATION_TOPIC, owner="presence")
        self._tasks = [
            asyncio.create_task(self._receive(self._subscription), name="presence replication"),
            asyncio.create_task(self._heartbeat(), name="presence heartbeat"),
        ]
        await self._send("sync_request", target=None)

    async def stop(self) -> None:
        """Stop replicating; what is pending is flushed first, then the other nodes are told we are down."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            subscription.close("unsubscribed")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # Flush: local subscribers still connected get their last diff, and the other nodes our
        # last change (a lost one would only cost them a resync, but `down` may be lost too).
        # `down` follows it, so they drop us at once rather than let us time out.
        self._announce_pending()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        await self._send_change()
        with contextlib.suppress(Exception):
            await self._send("down")
        PRESENCES_TRACKED.dec(sum(len(metas) for keys in self.local.values() for metas in keys.values()))
        self.local, self.owners, self.remotes = {}, {}, {}
        self._encoded_lists = {}
        self._pending, self._outgoing_joins, self._outgoing_leaves = {}, {}, {}

    # --- Tracking ---

    async def track(self, topic: str, key: str, meta: dict[str, Any], *, owner: str) -> str:
        """Record a presence for `key` in `topic`; returns its phx_ref. Untracked with its owner.

        Listed at once; announced (locally and to the other nodes) at the next flush.

        Examples:
            ref = await tracker.track("room:lobby", "42", {"name": "Ada"}, owner=socket_id)
            await tracker.track("room:lobby", "42", {"at": object()}, owner=socket_id)  # TypeError: not JSON
        """
        ref = new_ref()
        full_meta = {**meta, "phx_ref": ref}
        # Raise here, to the caller, rather than in a flush: a meta the other nodes cannot be sent
        # would fail every change and state reply after it.
        orjson.dumps(full_meta)
        _add(self.local, topic, key, ref, full_meta)
        PRESENCES_TRACKED.inc()
        self.owners.setdefault(owner, set()).add((topic, key, ref))
        _add(self._outgoing_joins, topic, key, ref, full_meta)
        self._record_join(topic, key, ref, full_meta)
        return ref

    async def untrack_owner(self, owner: str) -> None:
        """Remove every presence tracked by `owner` (a channel that left or whose socket closed)."""
        left = 0
        for topic, key, ref in self.owners.pop(owner, set()):
            keys = self.local.get(topic, {})
            meta = keys.get(key, {}).get(ref)
            _discard(keys, key, ref)
            if not keys:
                self.local.pop(topic, None)
            if meta is None:
                continue
            left += 1
            # The other nodes never heard of a presence that joins and leaves between two flushes
            # (a state they asked for meanwhile was sent after a flush, so it had none of it either).
            outgoing = self._outgoing_joins.get(topic, {})
            if not _discard(outgoing, key, ref):
                _add(self._outgoing_leaves, topic, key, ref, meta)
            elif not outgoing:
                del self._outgoing_joins[topic]
            self._record_leave(topic, key, ref, meta)
        if left:
            PRESENCES_TRACKED.dec(left)

    def encoded_list(self, topic: str) -> orjson.Fragment:
        """`list(topic)` as JSON, made once and shared until the topic's next flush (presence_state).

        Made once per period rather than per join: N sockets joining a topic of N presences would
        otherwise build and encode N lists of N entries. What a shared copy lacks (changes made
        since) is in the topic's pending diff, which every subscriber gets at the flush; a socket
        subscribes to the topic before it asks for the state, so it gets that diff too.
        """
        encoded = self._encoded_lists.get(topic)
        if encoded is None:
            encoded = self._encoded_lists[topic] = orjson.Fragment(orjson.dumps(self.list(topic)))
        return encoded

    def list(self, topic: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Everyone in `topic`, on every live node: `{key: {"metas": [...]}}`."""
        pending = self._pending.get(topic)
        if pending is not None:
            # Whoever gets this list holds the pending joins: their leaves must now be sent.
            pending.listed_at = self._seq
        merged: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for state in (self.local, *(remote.state for remote in self.remotes.values())):
            for key, metas in state.get(topic, {}).items():
                if metas:
                    merged.setdefault(key, {"metas": []})["metas"].extend(metas.values())
        return merged

    # --- Batching ---

    def _record(self, *, joins: State | None = None, leaves: State | None = None) -> None:
        """Add joins, then leaves, to their topics' pending diffs."""
        for topic, keys in (joins or {}).items():
            for key, metas in keys.items():
                for ref, meta in metas.items():
                    self._record_join(topic, key, ref, meta)
        for topic, keys in (leaves or {}).items():
            for key, metas in keys.items():
                for ref, meta in metas.items():
                    self._record_leave(topic, key, ref, meta)

    def _record_join(self, topic: str, key: str, ref: str, meta: dict[str, Any]) -> None:
        pending = self._pending_diff(topic)
        pending.joins.setdefault(key, {})[ref] = meta
        if _discard(pending.leaves, key, ref):
            # Back within the period (its node resynced): subscribers knew it before, so if it
            # leaves again in this period they must hear of it.
            pending.joined_at[ref] = 0
        else:
            self._seq += 1
            pending.joined_at[ref] = self._seq

    def _record_leave(self, topic: str, key: str, ref: str, meta: dict[str, Any]) -> None:
        pending = self._pending_diff(topic)
        if _discard(pending.joins, key, ref):
            joined_at = pending.joined_at.pop(ref, 0)
            if joined_at > pending.listed_at:
                return  # joined and left within the period, and nobody listed it: it never was
        pending.leaves.setdefault(key, {})[ref] = meta

    def _pending_diff(self, topic: str) -> _PendingDiff:
        pending = self._pending.get(topic)
        if pending is None:
            pending = self._pending[topic] = _PendingDiff()
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.period, self._on_timer)
        return pending

    def _on_timer(self) -> None:
        self._timer = None
        self._announce_pending()
        if self._outgoing_joins or self._outgoing_leaves:
            task = asyncio.get_running_loop().create_task(self._send_change(), name="presence change")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def _announce_pending(self) -> None:
        """Broadcast each pending topic's diff to its local subscribers; set the next period from its cost."""
        started = time.perf_counter()
        pending, self._pending = self._pending, {}
        for topic in pending:
            self._encoded_lists.pop(topic, None)
        diffs = _diff(
            {topic: diff.joins for topic, diff in pending.items()},
            {topic: diff.leaves for topic, diff in pending.items()},
        )
        for topic, diff in diffs.items():
            try:
                self.pubsub_node.local_broadcast(topic, "presence_diff", diff)
            except Exception:
                logger.exception("presence could not broadcast its diff on %r", topic)
        spent = time.perf_counter() - started
        self.period = min(MAX_BROADCAST_PERIOD, max(BROADCAST_PERIOD, spent / FLUSH_SHARE))

    # --- Replication ---

    def _take_change(self) -> dict[str, Any] | None:
        """This node's changes since the last one, as the next change message (None if it has none).

        Only called holding the send lock: messages are numbered in the order they leave.
        """
        if not self._outgoing_joins and not self._outgoing_leaves:
            return None
        joins, leaves = self._outgoing_joins, self._outgoing_leaves
        self._outgoing_joins, self._outgoing_leaves = {}, {}
        self.clock += 1
        return self._message(joins=joins, leaves=leaves)

    async def _send_change(self) -> None:
        try:
            async with self._send_lock:
                change = self._take_change()
                if change is not None:
                    await self.pubsub_node.broadcast(REPLICATION_TOPIC, "change", change)
        except Exception:
            # The other nodes notice the missing clock step at the next change or heartbeat and resync.
            logger.exception("presence could not send its change %s to the other nodes", self.clock)

    async def _send_state(self, target: str) -> None:
        async with self._send_lock:
            # What is waiting to be sent goes first, so the state is exactly what our changes add
            # up to at its clock: a pending change would otherwise be counted twice, or (joined and
            # left before the next flush) never be taken back.
            change = self._take_change()
            state = self._message(state=_copy(self.local), target=target)
            if change is not None:
                await self.pubsub_node.broadcast(REPLICATION_TOPIC, "change", change)
            await self.pubsub_node.broadcast(REPLICATION_TOPIC, "state", state)

    def _message(self, **fields: Any) -> dict[str, Any]:
        return {"node": self.pubsub_node.node_id, "clock": self.clock, **fields}

    async def _send(self, op: str, **fields: Any) -> None:
        # Made holding the lock, so its clock is the one of the last change sent before it.
        async with self._send_lock:
            await self.pubsub_node.broadcast(REPLICATION_TOPIC, op, self._message(**fields))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
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
            self._record(leaves=remote.state)

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
                subscription = self._subscription = self.pubsub_node.subscribe(REPLICATION_TOPIC, owner="presence")
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
        if not isinstance(node, str) or node == self.pubsub_node.node_id:
            return
        clock = int(message.get("clock", 0))
        remote = self.remotes.get(node)
        if op == "down":
            self._drop(node)
        elif op == "sync_request":
            if message.get("target") in (None, self.pubsub_node.node_id):
                await self._send_state(node)
        elif op == "state":
            self._replace(node, message.get("state") or {}, clock)
        elif op == "change":
            if remote is None or clock != remote.clock + 1:
                # A change we cannot place: start from the node's whole state instead.
                await self._send("sync_request", target=node)
                return
            remote.clock, remote.seen = clock, time.monotonic()
            joins, leaves = message.get("joins") or {}, message.get("leaves") or {}
            self._merge(remote.state, joins, leaves)
            self._record(joins=joins, leaves=leaves)
        elif op == "heartbeat":
            if remote is None or remote.clock != clock:
                await self._send("sync_request", target=node)
            else:
                remote.seen = time.monotonic()

    def _replace(self, node: str, state: State, clock: int) -> None:
        previous = self.remotes[node].state if node in self.remotes else {}
        self.remotes[node] = _Remote(state=state, clock=clock)
        self._record(joins=_subtract(state, previous), leaves=_subtract(previous, state))

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


# The running app's tracker (the Application makes one on its PubSub node and puts it here as it
# starts, `my_app.running`); an unstarted, empty one before.
running: Slot[Tracker] = Slot("presence", Tracker())


def current() -> Tracker:
    """The tracker the module-level functions use (the running app's)."""
    return running.value


async def track(topic: str, key: str, meta: dict[str, Any], *, owner: str) -> str:
    return await running.value.track(topic, key, meta, owner=owner)


async def untrack_owner(owner: str) -> None:
    await running.value.untrack_owner(owner)


def list_presences(topic: str) -> dict[str, dict[str, Any]]:
    """Presence.list/1: everyone in `topic` on every node."""
    return running.value.list(topic)


def encoded_presences(topic: str) -> orjson.Fragment:
    """`list_presences(topic)` encoded, shared by the joins of one flush period: presence_state's payload."""
    return running.value.encoded_list(topic)


def topics() -> Iterable[str]:
    return running.value.local.keys()
