"""The channels' Presence: a socket tracked under its user, listed with its user's data, untracked.

The sockets here are what a channel is given (`ChannelSocket`), each on a process that records
what is pushed to its client; the tracker is the app's (`started_app`).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from my_app import accounts, pubsub
from my_app_web.channels import presence
from my_app_web.channels.channel import ChannelSocket, PushPayload
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.pubsub import next_message, unique_topic
from tests.support.query_count import count_queries

pytestmark = pytest.mark.usefixtures("db")

_owners = itertools.count()


class Client:
    """A channel's process, as far as the socket needs one: what it pushed, in order."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []

    async def push(self, event: str, payload: PushPayload) -> None:
        encoded = orjson.dumps(payload)
        self.pushed.append((event, orjson.loads(encoded)))

    def send_info(self, message: Any) -> None:
        pass


@pytest.fixture
async def sockets() -> AsyncIterator[list[ChannelSocket]]:
    """The sockets a test joins (`joined(...)`); untracked when it ends, as their channels would be."""
    made: list[ChannelSocket] = []
    yield made
    for socket in made:
        await presence.untrack(socket)


def joined(
    sockets: list[ChannelSocket], topic: str, user: accounts.User, client: Client | None = None
) -> ChannelSocket:
    """A socket of `user` joined to `topic`, as a channel's callbacks are given it."""
    socket = ChannelSocket(
        topic=topic,
        join_ref="1",
        assigns={"user": accounts.Identity.of(user)},
        owner=f"test-presence-{next(_owners)}",
        process=client or Client(),
    )
    sockets.append(socket)
    return socket


async def test_a_tracked_socket_is_listed_under_its_user_with_their_data(sockets: list[ChannelSocket]) -> None:
    topic, ada = unique_topic("lobby"), await user_fixture(name="Ada")

    ref = await presence.track(joined(sockets, topic, ada), {"status": "away"})

    listed = await presence.list_presences(topic)
    assert list(listed) == [str(ada.id)]
    [meta] = listed[str(ada.id)]["metas"]
    assert meta["phx_ref"] == ref
    assert (meta["name"], meta["status"]) == ("Ada", "away")
    assert meta["online_at"].endswith("Z")
    assert listed[str(ada.id)]["user"] == {"id": str(ada.id), "name": "Ada"}


async def test_two_sockets_of_one_user_are_one_key_with_two_metas(sockets: list[ChannelSocket]) -> None:
    topic, ada = unique_topic("lobby"), await user_fixture()

    refs = {await presence.track(joined(sockets, topic, ada)), await presence.track(joined(sockets, topic, ada))}

    listed = await presence.list_presences(topic)
    assert {meta["phx_ref"] for meta in listed[str(ada.id)]["metas"]} == refs


async def test_list_fetches_every_users_data_in_one_query(sockets: list[ChannelSocket]) -> None:
    topic = unique_topic("lobby")
    users = [await user_fixture(name=name) for name in ("Ada", "Bob", "Cy")]
    for user in users:
        await presence.track(joined(sockets, topic, user))

    async with count_queries() as queries:
        listed = await presence.list_presences(topic)

    assert {entry["user"]["name"] for entry in listed.values()} == {"Ada", "Bob", "Cy"}
    assert len(queries) == 1, queries


async def test_the_latest_name_is_listed_and_a_deleted_user_keeps_their_metas(sockets: list[ChannelSocket]) -> None:
    topic, ada, bob = unique_topic("lobby"), await user_fixture(name="Ada"), await user_fixture()
    await presence.track(joined(sockets, topic, ada))
    await presence.track(joined(sockets, topic, bob))

    await accounts.update_user(SYSTEM, ada, {"name": "Ada L."})
    await accounts.delete_user(SYSTEM, bob)

    listed = await presence.list_presences(topic)
    assert listed[str(ada.id)]["user"] == {"id": str(ada.id), "name": "Ada L."}
    assert listed[str(bob.id)]["user"] is None
    assert len(listed[str(bob.id)]["metas"]) == 1


async def test_push_state_sends_the_client_everyone_in_the_topic(sockets: list[ChannelSocket]) -> None:
    topic, ada, bob = unique_topic("lobby"), await user_fixture(name="Ada"), await user_fixture(name="Bob")
    await presence.track(joined(sockets, topic, ada))
    client = Client()
    socket = joined(sockets, topic, bob, client)
    await presence.track(socket)

    await presence.push_state(socket)

    [(event, state)] = client.pushed
    assert event == "presence_state"
    assert {key: [meta["name"] for meta in entry["metas"]] for key, entry in state.items()} == {
        str(ada.id): ["Ada"],
        str(bob.id): ["Bob"],
    }


async def test_joins_and_untracks_reach_the_topic_as_presence_diffs(sockets: list[ChannelSocket]) -> None:
    topic, ada = unique_topic("lobby"), await user_fixture(name="Ada")
    subscription = pubsub.subscribe(topic)
    try:
        socket = joined(sockets, topic, ada)
        ref = await presence.track(socket)
        diff = await next_message(subscription)
        assert diff.event == "presence_diff"
        assert [meta["phx_ref"] for meta in diff.payload["joins"][str(ada.id)]["metas"]] == [ref]

        await presence.untrack(socket)

        diff = await next_message(subscription)
        assert (diff.payload["joins"], list(diff.payload["leaves"])) == ({}, [str(ada.id)])
        assert await presence.list_presences(topic) == {}
    finally:
        subscription.close("test over")
