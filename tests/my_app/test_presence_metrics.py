"""presences_tracked: the presences this node tracks, up at each track, down as each leaves or the tracker stops."""

from __future__ import annotations

from my_app import metrics
from my_app.presence import Tracker
from my_app.pubsub import PubSub
from tests.support.pubsub import unique_topic


def tracked() -> float:
    return metrics.registry.get_sample_value("presences_tracked") or 0.0


async def test_presences_are_counted_as_they_are_tracked_and_as_they_leave() -> None:
    tracker = Tracker(PubSub())  # no other node: what this one tracks is all there is
    lobby, other = unique_topic("room"), unique_topic("room")
    before = tracked()

    await tracker.track(lobby, "user-1", {}, owner="socket-a")
    await tracker.track(other, "user-1", {}, owner="socket-a")  # one socket, two rooms
    await tracker.track(lobby, "user-2", {}, owner="socket-b")
    assert tracked() - before == 3

    await tracker.untrack_owner("socket-a")
    assert tracked() - before == 1
    await tracker.untrack_owner("socket-a")  # gone already: nothing more leaves
    await tracker.untrack_owner("never-tracked")
    assert tracked() - before == 1

    await tracker.track(other, "user-3", {}, owner="socket-c")
    assert tracked() - before == 2

    await tracker.stop()  # what it still tracked leaves with it
    assert tracked() == before
