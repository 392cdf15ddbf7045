from __future__ import annotations

from my_app.config import Settings
from tests.support.channel_case import connect, token_for
from tests.support.fixtures.accounts import user_fixture

TOPIC = "lobby:main"


async def test_a_signed_in_user_joins_and_finds_themself_in_presence(live_url: str, settings: Settings) -> None:
    user = await user_fixture(name="Ada")
    async with connect(live_url, await token_for(settings, user)) as client:
        reply = await client.join(TOPIC)
        assert reply[4] == {"status": "ok", "response": {}}

        state = await client.next_event("presence_state", TOPIC)
        [meta] = state[4][str(user.id)]["metas"]
        assert meta["name"] == "Ada"
        assert {"online_at", "phx_ref"} <= set(meta)


async def test_ping_replies_with_its_payload(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    async with connect(live_url, await token_for(settings, user)) as client:
        await client.join(TOPIC)
        ref = await client.push(TOPIC, "ping", {"hello": "there"})
        reply = await client.reply(ref)
        assert reply[4] == {"status": "ok", "response": {"hello": "there"}}


async def test_shout_reaches_everyone_in_the_topic_with_who_sent_it(live_url: str, settings: Settings) -> None:
    alice, bob = await user_fixture(), await user_fixture()
    async with (
        connect(live_url, await token_for(settings, alice)) as a,
        connect(live_url, await token_for(settings, bob)) as b,
    ):
        await a.join(TOPIC)
        await b.join(TOPIC)
        # A client cannot speak for another: `from` is set by the server.
        await a.push(TOPIC, "shout", {"hello": "all", "from": str(bob.id)})
        for client in (a, b):
            message = await client.next_event("shout", TOPIC)
            assert message[4] == {"hello": "all", "from": str(alice.id)}


async def test_an_unknown_event_is_answered_with_an_error(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    async with connect(live_url, await token_for(settings, user)) as client:
        await client.join(TOPIC)
        ref = await client.push(TOPIC, "dance", {})
        reply = await client.reply(ref)
        assert reply[4] == {"status": "error", "response": {"reason": "unknown event 'dance'"}}


async def test_joins_and_leaves_reach_the_others_as_presence_diffs(live_url: str, settings: Settings) -> None:
    alice, bob = await user_fixture(), await user_fixture(name="Bob")
    async with connect(live_url, await token_for(settings, alice)) as a:
        await a.join(TOPIC)
        await a.next_event("presence_state", TOPIC)
        async with connect(live_url, await token_for(settings, bob)) as b:
            await b.join(TOPIC)
            joined = await a.next_where(lambda m: m[3] == "presence_diff" and str(bob.id) in m[4]["joins"])
            assert [meta["name"] for meta in joined[4]["joins"][str(bob.id)]["metas"]] == ["Bob"]
        left = await a.next_where(lambda m: m[3] == "presence_diff" and str(bob.id) in m[4]["leaves"])
        assert left[4]["joins"] == {}
