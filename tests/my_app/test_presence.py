from __future__ import annotations

import asyncio

import pytest

from my_app import application, presence, pubsub


@pytest.mark.usefixtures("started_app")
async def test_replication_recovers_after_its_subscription_is_dropped_for_falling_behind() -> None:
    tracker = presence.tracker
    dropped = tracker._subscription
    assert dropped is not None

    dropped.close("overflow")  # what PubSub does to a subscriber that falls behind
    for _ in range(100):
        if tracker._subscription is not dropped:
            break
        await asyncio.sleep(0.01)

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
