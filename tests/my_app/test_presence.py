"""Presence: listing, batched presence_diffs, and replication between nodes.

Local tests use the app's tracker (`started_app`). Replication tests run two nodes in this
process, each a `PubSub` with its own PostgreSQL LISTEN connection and its own `Tracker`, on a
channel of their own, so the app's tracker never hears them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from my_app import application, database, presence, pubsub
from my_app.config import Settings
from my_app.presence import BROADCAST_PERIOD, REPLICATION_TOPIC, Tracker
from my_app.pubsub import Message, PostgresAdapter, PubSub, Subscription
from tests.support.pubsub import (
    StartNode,
    eventually,
    next_message,
    start_node_fixture,  # noqa: F401 - fixture
    unique_topic,
)

# Long enough that a flush, had there been one, would have been heard. The tests that sleep QUIET
# assert that something did NOT happen (no second change, no flush after stop): only time shows it.
QUIET = 4 * BROADCAST_PERIOD


@pytest.fixture(scope="module")
def database_url(settings: Settings) -> str:
    return database.resolve(settings).url


async def next_diff(subscription: Subscription) -> dict[str, Any]:
    message = await next_message(subscription)
    assert message.event == "presence_diff", message
    payload: dict[str, Any] = message.payload
    return payload


async def assert_quiet(subscription: Subscription) -> None:
    """Nothing more arrives on `subscription` for a few broadcast periods."""
    try:
        item = await subscription.get(timeout=QUIET)
    except TimeoutError:
        return
    raise AssertionError(f"expected nothing more on {subscription.topic!r}, got {item!r}")


def refs(entry: dict[str, Any]) -> set[str]:
    return {meta["phx_ref"] for meta in entry["metas"]}


# --- Listing ---


@pytest.mark.usefixtures("started_app")
async def test_replication_recovers_after_its_subscription_is_dropped_for_falling_behind() -> None:
    tracker = presence.current()
    dropped = tracker._subscription
    assert dropped is not None

    dropped.close("overflow")  # what PubSub does to a subscriber that falls behind
    await eventually(lambda: tracker._subscription is not dropped, "the tracker to subscribe again")

    replacement = tracker._subscription
    assert replacement is not None
    assert replacement is not dropped
    assert not replacement.closed
    assert pubsub.subscriber_count(presence.REPLICATION_TOPIC) >= 1


async def test_tracking_lists_one_key_per_user_with_a_meta_per_socket(
    started_app: application.Application,
) -> None:
    topic = "room:presence-unit"
    first = await presence.track(topic, "user-1", {"online_at": "now"}, owner="socket-a")
    second = await presence.track(topic, "user-1", {"online_at": "later"}, owner="socket-b")
    try:
        listed = presence.list_presences(topic)
        assert list(listed) == ["user-1"]
        assert {meta["phx_ref"] for meta in listed["user-1"]["metas"]} == {first, second}
    finally:
        await presence.untrack_owner("socket-a")
        await presence.untrack_owner("socket-b")
    assert presence.list_presences(topic) == {}


@pytest.mark.usefixtures("started_app")
async def test_a_meta_that_is_not_json_is_refused_and_never_listed() -> None:
    topic = unique_topic("room")
    with pytest.raises(TypeError):
        await presence.track(topic, "user-1", {"online_at": object()}, owner="socket-a")
    assert presence.list_presences(topic) == {}


# --- Batched diffs ---


@pytest.mark.usefixtures("started_app")
async def test_tracks_within_one_period_reach_subscribers_as_one_diff_per_topic() -> None:
    lobby, other = unique_topic("room"), unique_topic("room")
    with pubsub.subscribe(lobby) as lobby_diffs, pubsub.subscribe(other) as other_diffs:
        tracked = {f"user-{n}": await presence.track(lobby, f"user-{n}", {"n": n}, owner=f"s{n}") for n in range(5)}
        second_tab = await presence.track(lobby, "user-0", {"n": 0}, owner="s0-tab")
        elsewhere = await presence.track(other, "user-9", {"n": 9}, owner="s9")
        try:
            # Listed at once (a socket that just joined sees itself), announced only at the flush.
            assert set(presence.list_presences(lobby)) == set(tracked)
            assert lobby_diffs.qsize() == 0

            diff = await next_diff(lobby_diffs)
            assert diff["leaves"] == {}
            assert set(diff["joins"]) == set(tracked)
            assert refs(diff["joins"]["user-0"]) == {tracked["user-0"], second_tab}
            assert {key: refs(entry) for key, entry in diff["joins"].items() if key != "user-0"} == {
                key: {ref} for key, ref in tracked.items() if key != "user-0"
            }
            assert diff["joins"]["user-3"]["metas"] == [{"n": 3, "phx_ref": tracked["user-3"]}]
            await assert_quiet(lobby_diffs)

            assert await next_diff(other_diffs) == {
                "joins": {"user-9": {"metas": [{"n": 9, "phx_ref": elsewhere}]}},
                "leaves": {},
            }
        finally:
            for owner in ("s0", "s1", "s2", "s3", "s4", "s0-tab", "s9"):
                await presence.untrack_owner(owner)


@pytest.mark.usefixtures("started_app")
async def test_a_presence_that_joins_and_leaves_within_one_period_is_never_announced() -> None:
    topic = unique_topic("room")
    with pubsub.subscribe(topic) as diffs:
        staying = await presence.track(topic, "user-1", {}, owner="staying")
        await presence.track(topic, "user-2", {}, owner="passing")
        await presence.track(topic, "user-1", {}, owner="passing")
        await presence.untrack_owner("passing")
        try:
            assert await next_diff(diffs) == {"joins": {"user-1": {"metas": [{"phx_ref": staying}]}}, "leaves": {}}
            await assert_quiet(diffs)

            # Alone in its period, it sends nothing at all.
            await presence.track(topic, "user-3", {}, owner="blink")
            await presence.untrack_owner("blink")
            await assert_quiet(diffs)
        finally:
            await presence.untrack_owner("staying")
    assert presence.list_presences(topic) == {}


@pytest.mark.usefixtures("started_app")
async def test_a_presence_listed_before_it_left_within_the_period_is_sent_as_a_leave() -> None:
    topic = unique_topic("room")
    with pubsub.subscribe(topic) as diffs:
        ref = await presence.track(topic, "user-1", {}, owner="socket-a")
        # A socket joining now gets this presence in its presence_state...
        assert "user-1" in presence.list_presences(topic)
        await presence.untrack_owner("socket-a")
        # ...so it must hear that it left, or it would list user-1 for good.
        assert await next_diff(diffs) == {"joins": {}, "leaves": {"user-1": {"metas": [{"phx_ref": ref}]}}}
        await assert_quiet(diffs)


@pytest.mark.usefixtures("started_app")
async def test_the_encoded_state_is_shared_within_a_period_and_the_next_diff_completes_it() -> None:
    topic = unique_topic("room")
    with pubsub.subscribe(topic) as diffs:
        first = await presence.track(topic, "user-1", {}, owner="s1")
        state = presence.encoded_presences(topic)
        assert orjson.loads(orjson.dumps(state)) == presence.list_presences(topic)
        # Later joins in the same period share that state: what it lacks, the period's diff brings.
        second = await presence.track(topic, "user-2", {}, owner="s2")
        assert presence.encoded_presences(topic) is state
        diff = await next_diff(diffs)
        assert diff == {
            "joins": {"user-1": {"metas": [{"phx_ref": first}]}, "user-2": {"metas": [{"phx_ref": second}]}},
            "leaves": {},
        }
        # After the flush, a fresh one with everyone.
        fresh = presence.encoded_presences(topic)
        assert fresh is not state
        assert set(orjson.loads(orjson.dumps(fresh))) == {"user-1", "user-2"}
        # A leave of someone in a shared state is announced even within its period.
        await presence.untrack_owner("s2")
        assert await next_diff(diffs) == {"joins": {}, "leaves": {"user-2": {"metas": [{"phx_ref": second}]}}}
        await presence.untrack_owner("s1")


@pytest.mark.usefixtures("started_app")
async def test_leaves_within_one_period_reach_subscribers_as_one_diff() -> None:
    topic = unique_topic("room")
    with pubsub.subscribe(topic) as diffs:
        tracked = {f"user-{n}": await presence.track(topic, f"user-{n}", {}, owner=f"s{n}") for n in range(3)}
        assert set((await next_diff(diffs))["joins"]) == set(tracked)

        for n in range(3):
            await presence.untrack_owner(f"s{n}")
        assert presence.list_presences(topic) == {}

        diff = await next_diff(diffs)
        assert diff == {"joins": {}, "leaves": {key: {"metas": [{"phx_ref": ref}]} for key, ref in tracked.items()}}
        await assert_quiet(diffs)


@pytest.mark.usefixtures("started_app")
async def test_a_slow_flush_stretches_the_next_period_and_a_quick_one_brings_it_back() -> None:
    """A flush writes a frame to every subscriber: in a big room it is slow, and the diffs that
    follow wait longer (the same joins, in fewer frames), until flushes are quick again."""
    topic = unique_topic("room")
    slow_for = 0.1  # what each flush costs the node while `slow` is set, as 10,000 sockets would
    slow = True
    heard: list[float] = []

    def crowded_room(item: pubsub.Message | pubsub.Gap) -> None:
        heard.append(asyncio.get_running_loop().time())
        if slow:
            time.sleep(slow_for)  # a callback's own cost is the flush's: it blocks the node

    loop = asyncio.get_running_loop()
    with pubsub.subscribe(topic, on_message=crowded_room), pubsub.subscribe(topic) as diffs:
        try:
            await presence.track(topic, "user-1", {}, owner="s1")
            await next_diff(diffs)
            tracked_at = loop.time()
            await presence.track(topic, "user-2", {}, owner="s2")
            assert set((await next_diff(diffs))["joins"]) == {"user-2"}
            # At least the flush's cost divided by FLUSH_SHARE: 0.5 s rather than 50 ms.
            assert heard[-1] - tracked_at >= slow_for / presence.FLUSH_SHARE - 0.05

            slow = False  # the room empties: the next flush is quick, and so is the period after it
            await presence.track(topic, "user-3", {}, owner="s3")
            await next_diff(diffs)
            assert presence.current().period == BROADCAST_PERIOD
        finally:
            for owner in ("s1", "s2", "s3"):
                await presence.untrack_owner(owner)


async def test_a_change_that_cannot_be_replicated_is_logged_and_later_diffs_still_flow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = PubSub()  # never started: every broadcast to other nodes fails
    tracker = Tracker(node)
    topic = unique_topic("room")
    with node.subscribe(topic) as diffs, caplog.at_level(logging.ERROR, logger="my_app.presence"):
        first = await tracker.track(topic, "user-1", {}, owner="socket-a")  # does not raise
        assert (await next_diff(diffs))["joins"] == {"user-1": {"metas": [{"phx_ref": first}]}}
        await eventually(
            lambda: any("could not send its change" in record.message for record in caplog.records),
            "an error logged for the change that could not be sent",
        )

        second = await tracker.track(topic, "user-2", {}, owner="socket-b")
        assert (await next_diff(diffs))["joins"] == {"user-2": {"metas": [{"phx_ref": second}]}}
        await tracker.stop()


# --- Replication between two nodes ---


@dataclass
class Node:
    pubsub: PubSub
    tracker: Tracker

    @property
    def node_id(self) -> str:
        return self.pubsub.node_id

    def users(self, topic: str) -> set[str]:
        return set(self.tracker.list(topic))


class LossyAdapter(PostgresAdapter):
    """Loses the next `lose` change messages it is asked to publish, as a network might."""

    lose = 0

    async def _publish(self, topic: str, envelope: bytes) -> None:
        if self.lose and topic == REPLICATION_TOPIC and b'"event":"change"' in envelope:
            self.lose -= 1
            return
        await super()._publish(topic, envelope)


@pytest.fixture
async def nodes(start_node: StartNode, database_url: str) -> AsyncIterator[tuple[Node, Node]]:
    """`here` and `there`, two started nodes; `there` holds `here`'s state.

    `here` publishes through a `LossyAdapter` and sends no heartbeats: its clock reaches `there`
    only in its changes, so a lost change is found by the gap it leaves and nothing else. The
    tests end long before `there` would time `here` out for its silence.
    """
    channel = f"presence_test_{uuid.uuid4().hex[:12]}"
    here_pubsub = await start_node(LossyAdapter(database_url, channel=channel))
    there_pubsub = await start_node(PostgresAdapter(database_url, channel=channel))
    here, there = Node(here_pubsub, Tracker(here_pubsub)), Node(there_pubsub, Tracker(there_pubsub))
    here.tracker.heartbeat_interval = 3600
    await here.tracker.start()
    await there.tracker.start()  # asks every node for its state; `here` answers
    try:
        await eventually(lambda: here.node_id in there.tracker.remotes, "there to hold here's state")
        yield here, there
    finally:
        await there.tracker.stop()
        await here.tracker.stop()


async def sent_by(subscription: Subscription, node: Node) -> list[Message]:
    """The replication messages from `node` that `subscription` has queued, taken off its queue."""
    sent: list[Message] = []
    while subscription.qsize():
        item = await subscription.get()
        if isinstance(item, Message) and item.payload.get("node") == node.node_id:
            sent.append(item)
    return sent


async def test_a_burst_of_changes_crosses_to_the_other_node_as_one_change_message(
    nodes: tuple[Node, Node],
) -> None:
    here, there = nodes
    lobby, other = unique_topic("room"), unique_topic("room")
    with there.pubsub.subscribe(REPLICATION_TOPIC) as replication, there.pubsub.subscribe(lobby) as diffs_there:
        clock = here.tracker.clock
        for n in range(20):
            await here.tracker.track(lobby, f"user-{n}", {"n": n}, owner=f"s{n}")
        await here.tracker.track(other, "user-x", {}, owner="sx")
        await here.tracker.track(lobby, "user-0", {}, owner="blink")
        await here.tracker.untrack_owner("blink")  # joins and leaves within the period: never sent

        expected = {f"user-{n}" for n in range(20)}
        await eventually(lambda: there.users(lobby) == expected, "there to list the lobby")
        await eventually(lambda: there.users(other) == {"user-x"}, "there to list the other topic")
        diff = await next_diff(diffs_there)  # and there's own subscribers got it as one diff
        assert set(diff["joins"]) == expected
        assert diff["leaves"] == {}
        await asyncio.sleep(QUIET)  # what must not come: a second change for the same burst

        changes = [message for message in await sent_by(replication, here) if message.event == "change"]
        assert len(changes) == 1, changes
        change = changes[0].payload
        assert change["clock"] == clock + 1 == here.tracker.clock
        assert set(change["joins"]) == {lobby, other}
        assert change["leaves"] == {}
        assert len(change["joins"][lobby]["user-0"]) == 1  # not the blink

        # Leaves batch the same way: one more change, one step on the clock.
        for n in range(20):
            await here.tracker.untrack_owner(f"s{n}")
        await eventually(lambda: there.users(lobby) == set(), "there to see the lobby empty")
        await asyncio.sleep(QUIET)  # what must not come: more than one change for the leaves
        changes = [message for message in await sent_by(replication, here) if message.event == "change"]
        assert [message.payload["clock"] for message in changes] == [clock + 2]
        assert set(changes[0].payload["leaves"][lobby]) == expected
        assert there.users(other) == {"user-x"}


async def test_a_lost_change_is_made_up_when_the_next_one_shows_the_gap(nodes: tuple[Node, Node]) -> None:
    here, there = nodes
    lossy = here.pubsub.adapter
    assert isinstance(lossy, LossyAdapter)
    topic = unique_topic("room")

    await here.tracker.track(topic, "first", {}, owner="s1")
    await eventually(lambda: there.users(topic) == {"first"}, "there to list the first presence")

    lossy.lose = 1
    await here.tracker.track(topic, "lost", {}, owner="s2")
    await eventually(lambda: lossy.lose == 0, "the change to be lost")
    await asyncio.sleep(QUIET)  # what must not happen: `there` learning of the lost change by itself
    assert there.users(topic) == {"first"}

    await here.tracker.track(topic, "next", {}, owner="s3")
    await eventually(lambda: there.users(topic) == {"first", "lost", "next"}, "there to resync")
    assert there.tracker.remotes[here.node_id].clock == here.tracker.clock


async def test_stopping_flushes_what_is_pending_then_says_goodbye(nodes: tuple[Node, Node]) -> None:
    here, there = nodes
    topic = unique_topic("room")
    with (
        here.pubsub.subscribe(topic) as diffs_here,
        there.pubsub.subscribe(REPLICATION_TOPIC) as replication,
    ):
        ref = await here.tracker.track(topic, "user-1", {}, owner="s1")
        await here.tracker.stop()

        # The local subscribers had their diff by the time stop() returned...
        assert diffs_here.qsize() == 1
        assert (await next_diff(diffs_here))["joins"] == {"user-1": {"metas": [{"phx_ref": ref}]}}
        # ...and the other node heard the change, then `down`, and lists nobody from here.
        await eventually(lambda: here.node_id not in there.tracker.remotes, "there to drop here")
        assert there.users(topic) == set()
        events = [message.event for message in await sent_by(replication, here)]
        assert events[-2:] == ["change", "down"]

        # Nothing is flushed after stop(): only waiting shows it.
        await asyncio.sleep(QUIET)
        assert await sent_by(replication, here) == []
        assert diffs_here.qsize() == 0


async def test_a_node_given_our_state_mid_period_still_hears_of_a_leave_in_that_period(
    nodes: tuple[Node, Node], start_node: StartNode
) -> None:
    here, _ = nodes
    topic = unique_topic("room")
    adapter = here.pubsub.adapter
    assert isinstance(adapter, PostgresAdapter)
    late_pubsub = await start_node(PostgresAdapter(adapter.conninfo, channel=adapter.channel))
    late = Node(late_pubsub, Tracker(late_pubsub))
    try:
        await here.tracker.track(topic, "blink", {}, owner="s1")
        await late.tracker.start()  # asks for here's state, most likely before the track is flushed
        await eventually(lambda: late.users(topic) == {"blink"}, "late to list the presence")
        await here.tracker.untrack_owner("s1")
        # Well within NODE_TIMEOUT: the leave must arrive as a change, not as here timing out.
        await eventually(lambda: late.users(topic) == set(), "late to hear of the leave", within=1.0)
    finally:
        await late.tracker.stop()


async def test_a_node_that_drops_out_and_back_within_a_period_is_still_heard_leaving(
    nodes: tuple[Node, Node], start_node: StartNode
) -> None:
    _, there = nodes
    topic = unique_topic("room")
    adapter = there.pubsub.adapter
    assert isinstance(adapter, PostgresAdapter)
    # A node of our own making, speaking the replication protocol by hand.
    sender = await start_node(PostgresAdapter(adapter.conninfo, channel=adapter.channel))
    fake, meta = "fake-node", {"phx_ref": "ref-1"}
    state = {topic: {"user-1": {"ref-1": meta}}}
    with there.pubsub.subscribe(topic) as diffs:
        await sender.broadcast(REPLICATION_TOPIC, "state", {"node": fake, "clock": 1, "state": state})
        assert await next_diff(diffs) == {"joins": {"user-1": {"metas": [meta]}}, "leaves": {}}

        # Gone, back with its whole state, then its presence leaves: all within one period or so.
        await sender.broadcast(REPLICATION_TOPIC, "down", {"node": fake, "clock": 1})
        await sender.broadcast(REPLICATION_TOPIC, "state", {"node": fake, "clock": 1, "state": state})
        leaves = {topic: {"user-1": {"ref-1": meta}}}
        await sender.broadcast(REPLICATION_TOPIC, "change", {"node": fake, "clock": 2, "joins": {}, "leaves": leaves})

        await eventually(lambda: there.users(topic) == set(), "there to list nobody")
        # Subscribers end up listing nobody too: the last diff that mentions ref-1 is its leave.
        last: dict[str, Any] = {}
        while "user-1" not in last.get("leaves", {}):
            last = await next_diff(diffs)
            assert last["joins"] == {} or last["joins"] == {"user-1": {"metas": [meta]}}, last
        await assert_quiet(diffs)
