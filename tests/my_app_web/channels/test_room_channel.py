from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any

import pytest
import websockets

from my_app import accounts, chat, presence, pubsub
from my_app.config import Settings
from my_app_web.channels import socket_token
from my_app_web.channels.wire import Outgoing, Wire
from tests.support.channel_case import RECEIVE_TIMEOUT, PhoenixClient, connect, token_for
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.pubsub import next_message


async def test_a_signed_in_user_joins_the_lobby_and_sees_themself_in_presence(
    live_url: str, settings: Settings
) -> None:
    user = await user_fixture()
    async with connect(live_url, await token_for(settings, user)) as client:
        reply = await client.join("room:lobby")
        assert reply[4] == {"status": "ok", "response": {}}

        state = await client.next_event("presence_state", "room:lobby")
        assert list(state[4]) == [str(user.id)]
        metas = state[4][str(user.id)]["metas"]
        assert len(metas) == 1
        assert {"online_at", "phx_ref"} <= set(metas[0])


async def test_heartbeat_is_answered(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    async with connect(live_url, await token_for(settings, user)) as client:
        await client.send(None, "7", "phoenix", "heartbeat", {})
        reply = await client.reply("7")
        assert reply == [None, "7", "phoenix", "phx_reply", {"status": "ok", "response": {}}]


async def test_ping_replies_with_pong_and_the_number(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    async with connect(live_url, await token_for(settings, user)) as client:
        await client.join("room:lobby")
        ref = await client.push("room:lobby", "ping", {"n": 42})
        reply = await client.reply(ref)
        assert reply[4] == {"status": "ok", "response": {"pong": True, "n": 42}}


async def test_new_msg_reaches_everyone_in_the_room_with_the_sender(live_url: str, settings: Settings) -> None:
    alice, bob = await user_fixture(name="Alice"), await user_fixture(name="Bob")
    async with (
        connect(live_url, await token_for(settings, alice)) as a,
        connect(live_url, await token_for(settings, bob)) as b,
    ):
        await a.join("room:lobby")
        await b.join("room:lobby")
        ref = await a.push("room:lobby", "new_msg", {"body": "hello"})
        assert (await a.reply(ref))[4]["status"] == "ok"
        for client in (a, b):
            message = await client.next_event("new_msg", "room:lobby")
            sent_at = message[4].pop("sent_at")
            assert message[4] == {"body": "hello", "user": {"id": str(alice.id), "name": "Alice"}}
            assert abs((datetime.fromisoformat(sent_at) - datetime.now(UTC)).total_seconds()) < 10
            assert message[0] is None  # broadcasts carry no join_ref


@pytest.mark.parametrize(("body", "reason"), [("", "body can't be blank"), ("x" * 2001, "at most 2000")])
async def test_new_msg_refuses_an_empty_or_too_long_body(
    live_url: str, settings: Settings, body: str, reason: str
) -> None:
    user = await user_fixture()
    async with connect(live_url, await token_for(settings, user)) as client:
        await client.join("room:lobby")
        ref = await client.push("room:lobby", "new_msg", {"body": body})
        reply = await client.reply(ref)
        assert reply[4]["status"] == "error"
        assert reason in reply[4]["response"]["reason"]


async def test_private_rooms_are_for_members_and_admins(live_url: str, settings: Settings) -> None:
    member, outsider = await user_fixture(), await user_fixture()
    admin = await user_fixture(role="admin")
    room = await chat.create_room({"slug": "secret", "name": "Secret"})
    await chat.add_member(room, member)
    for user, status in ((member, "ok"), (admin, "ok"), (outsider, "error")):
        async with connect(live_url, await token_for(settings, user)) as client:
            reply = await client.join("room:secret")
            assert reply[4]["status"] == status, user
            if status == "error":
                assert reply[4]["response"] == {"reason": "unauthorized"}
    async with connect(live_url, await token_for(settings, member)) as client:
        assert (await client.join("room:nowhere"))[4] == {"status": "error", "response": {"reason": "unauthorized"}}


async def test_a_topic_no_channel_serves_is_unmatched(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    async with connect(live_url, await token_for(settings, user)) as client:
        reply = await client.join("nothing:here")
        assert reply[4] == {"status": "error", "response": {"reason": "unmatched topic"}}


async def test_two_tabs_of_one_user_are_one_key_with_two_metas(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    async with (
        connect(live_url, await token_for(settings, user)) as one,
        connect(live_url, await token_for(settings, user)) as two,
    ):
        await one.join("room:lobby")
        await one.next_event("presence_state")
        await two.join("room:lobby")
        # As the JS client's syncState/syncDiff do: the state, then the diffs (this tab's own
        # join comes in a diff, as in Phoenix, where a channel pushes the state before tracking).
        state = await two.next_event("presence_state")
        metas = {meta["phx_ref"]: meta for meta in state[4].get(str(user.id), {"metas": []})["metas"]}
        while len(metas) < 2:
            diff = await two.next_event("presence_diff")
            assert diff[4]["leaves"] == {}
            metas.update({meta["phx_ref"]: meta for meta in diff[4]["joins"].get(str(user.id), {"metas": []})["metas"]})
        assert len(metas) == 2
        assert set(state[4]) <= {str(user.id)}  # one key for both tabs


@pytest.mark.parametrize("compression", [None, "deflate"], ids=["written as is", "compressed"])
async def test_joiners_of_one_presence_period_share_the_state_each_with_its_own_join_ref(
    live_url: str, settings: Settings, compression: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every joiner of one period gets the same state, framed once per join_ref (and written as is
    to sockets without compression): each still carries its own join_ref, as the JS client checks."""
    written: list[bytes] = []
    write = Wire.write

    def recording(self: Wire, outgoing: Outgoing) -> None:
        written.append(outgoing.data)
        write(self, outgoing)

    monkeypatch.setattr(Wire, "write", recording)
    users = [await user_fixture(name=name) for name in ("Ada", "Bob", "Cy")]
    presence.current().period = 3.0  # one period for the three joins (the next flush resets it)
    lobby = pubsub.subscribe("room:lobby")
    async with (
        connect(live_url, await token_for(settings, users[0]), compression=compression) as a,
        connect(live_url, await token_for(settings, users[1]), compression=compression) as b,
        connect(live_url, await token_for(settings, users[2]), compression=compression) as c,
    ):
        await a.reply(await a.push("phoenix", "heartbeat"))  # so a's join has ref "2", b's and c's "1"
        states = []
        for client in (a, b, c):
            await client.join("room:lobby")
            states.append(await client.next_event("presence_state", "room:lobby"))
        assert [state[0] for state in states] == ["2", "1", "1"]
        assert states[0][4] == states[1][4] == states[2][4]  # what the first join saw: the diff brings the rest
        assert str(users[0].id) in states[0][4]
        # The period's diff completes everyone's list.
        diff = await c.next_event("presence_diff", "room:lobby", within=10)
        assert {str(user.id) for user in users} <= set(states[2][4]) | set(diff[4]["joins"])
    # Without compression the frames went to uvicorn's transport as they were built; compressed, through ASGI.
    assert bool(written) is (compression is None)
    # The three leave (so that the next test's lobby does not hear of them).
    left: set[str] = set()
    while len(left) < len(users):
        message = await next_message(lobby)
        if message.event == "presence_diff":
            left |= set(message.payload["leaves"])
    lobby.close("unsubscribed")


async def test_leaving_sends_a_presence_diff_with_the_leave(live_url: str, settings: Settings) -> None:
    alice, bob = await user_fixture(), await user_fixture()
    async with connect(live_url, await token_for(settings, alice)) as a:
        await a.join("room:lobby")
        await a.next_event("presence_state")
        async with connect(live_url, await token_for(settings, bob)) as b:
            await b.join("room:lobby")
            joined = await a.next_where(lambda m: m[3] == "presence_diff" and str(bob.id) in m[4]["joins"])
            assert joined[4]["leaves"] == {}
        left = await a.next_where(lambda m: m[3] == "presence_diff" and str(bob.id) in m[4]["leaves"])
        assert left[4]["joins"] == {}


async def test_a_second_join_of_a_topic_replaces_the_first(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    async with connect(live_url, await token_for(settings, user)) as client:
        first_ref = (await client.join("room:lobby"))[0]
        await client.send("9", "9", "room:lobby", "phx_join", {})
        seen: list[list[Any]] = []
        while not seen or seen[-1][3] != "phx_reply":
            seen.append(await client.receive())
        # The old channel is closed with its own join_ref, then the new join is answered, as Phoenix does.
        assert [first_ref, first_ref, "room:lobby", "phx_close", {}] in seen
        assert seen[-1] == ["9", "9", "room:lobby", "phx_reply", {"status": "ok", "response": {}}]
        client.join_refs["room:lobby"] = "9"
        ref = await client.push("room:lobby", "ping", {"n": 2})
        assert (await client.reply(ref))[4]["status"] == "ok"


async def test_leave_replies_ok_then_closes_the_channel(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    async with connect(live_url, await token_for(settings, user)) as client:
        reply = await client.join("room:lobby")
        join_ref = reply[0]
        ref = await client.push("room:lobby", "phx_leave")
        assert (await client.reply(ref))[4]["status"] == "ok"
        closed = await client.next_event("phx_close", "room:lobby")
        assert closed[:2] == [join_ref, join_ref]
        ref = await client.push("room:lobby", "ping", {"n": 1})
        assert (await client.reply(ref))[4] == {"status": "error", "response": {"reason": "unmatched topic"}}


async def test_an_invalid_token_is_refused_at_the_handshake_with_403(live_url: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(live_url, "not-a-token"):
            pass
    assert refused.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus):
        async with connect(live_url, None):
            pass


async def test_the_auth_token_subprotocol_is_accepted_and_echoed(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    encoded = base64.urlsafe_b64encode((await token_for(settings, user)).encode()).decode().rstrip("=")
    protocols = ["phoenix", f"base64url.bearer.phx.{encoded}"]
    async with connect(live_url, None, subprotocols=protocols) as client:
        assert client.connection.subprotocol == "phoenix"
        assert (await client.join("room:lobby"))[4]["status"] == "ok"


async def refused_at_handshake(live_url: str, token: str) -> int:
    """The HTTP status the server answered the upgrade with (it must refuse it)."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(live_url, token):
            pass
    return refused.value.response.status_code


async def closed_by_server(client: PhoenixClient) -> int | None:
    """The close code once the server closed the socket; fails after RECEIVE_TIMEOUT instead of hanging."""
    await asyncio.wait_for(client.connection.wait_closed(), RECEIVE_TIMEOUT)
    return client.connection.close_code


async def test_logging_out_closes_the_sockets_of_that_token_and_refuses_it_afterwards(
    live_url: str, settings: Settings
) -> None:
    user = await user_fixture()
    api_token = await accounts.create_api_token(user)
    token = await token_for(settings, user, api_token)
    other = await token_for(settings, user)  # another credential of the same user
    async with connect(live_url, token) as client, connect(live_url, other) as unrelated:
        await client.join("room:lobby")
        await unrelated.join("room:lobby")

        await accounts.delete_api_token(api_token)

        assert await closed_by_server(client) == 1000
        assert (await ping(unrelated))["status"] == "ok"  # still open: its credential is alive

    assert await refused_at_handshake(live_url, token) == 403
    async with connect(live_url, other) as client:
        assert (await client.join("room:lobby"))[4]["status"] == "ok"


async def test_logging_a_browser_session_out_refuses_its_socket_tokens(live_url: str, settings: Settings) -> None:
    user = await user_fixture()
    session_token = await accounts.generate_user_session_token(user)
    credential = await accounts.get_credential(session_token, "session")
    assert credential is not None
    token = socket_token.sign(settings, user.id, credential.id)
    async with connect(live_url, token) as client:
        assert (await client.join("room:lobby"))[4]["status"] == "ok"

    await accounts.delete_user_session_token(session_token)

    assert await refused_at_handshake(live_url, token) == 403


async def test_a_password_change_closes_every_socket_and_refuses_the_old_tokens(
    live_url: str, settings: Settings
) -> None:
    user = await user_fixture()
    tokens = [await token_for(settings, user), await token_for(settings, user)]
    async with connect(live_url, tokens[0]) as one, connect(live_url, tokens[1]) as two:
        await one.join("room:lobby")

        await accounts.update_user_password(user, {"password": "a brand new passphrase"})

        assert [await closed_by_server(one), await closed_by_server(two)] == [1000, 1000]

    for token in tokens:
        assert await refused_at_handshake(live_url, token) == 403


async def test_a_token_naming_another_users_credential_is_refused(live_url: str, settings: Settings) -> None:
    owner, intruder = await user_fixture(), await user_fixture()
    credential = await accounts.get_credential(await accounts.create_api_token(owner), "api")
    assert credential is not None

    assert await refused_at_handshake(live_url, socket_token.sign(settings, intruder.id, credential.id)) == 403


async def test_a_demoted_admin_cannot_join_private_rooms_on_a_socket_opened_as_admin(
    live_url: str, settings: Settings
) -> None:
    admin = await user_fixture(role="admin")
    await chat.create_room({"slug": "staff", "name": "Staff"})  # admin is no member
    async with connect(live_url, await token_for(settings, admin)) as client:
        assert (await client.join("room:staff"))[4]["status"] == "ok"
        ref = await client.push("room:staff", "phx_leave")
        assert (await client.reply(ref))[4]["status"] == "ok"

        await accounts.update_user(SYSTEM, admin, {"role": "user"})

        assert (await client.join("room:staff"))[4] == {"status": "error", "response": {"reason": "unauthorized"}}
        assert (await client.join("room:lobby"))[4]["status"] == "ok"


async def ping(client: PhoenixClient) -> dict[str, object]:
    """The reply to a heartbeat: the socket is open and answering."""
    await client.send(None, "hb", "phoenix", "heartbeat", {})
    reply: dict[str, object] = (await client.reply("hb"))[4]
    return reply
