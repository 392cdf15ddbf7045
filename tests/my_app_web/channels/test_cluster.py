"""Channels and Presence across two nodes: two `myapp server` processes on one database.

User A is on node 1 and user B on node 2, both in room:lobby. Each sees both in Presence, a
message from A reaches B (and back), and when node 2 dies (SIGKILL: no goodbye) its presences
leave on node 1 within NODE_TIMEOUT plus a heartbeat or two. The nodes talk over PostgreSQL
LISTEN/NOTIFY (the default) or, when Redis answers, over Redis pub/sub (REDIS_URL).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from my_app import presence
from my_app.config import Settings
from tests.support.channel_case import SEE_WITHIN, Member, connect, token_for
from tests.support.fixtures.accounts import user_fixture
from tests.support.live_server import (  # noqa: F401 - fixture
    ServerProcess,
    committed_chat_fixture,
    forget_nodes,
    started_side_by_side,
)
from tests.support.processes import free_port
from tests.support.pubsub import REDIS_URL, needs_redis

pytestmark = pytest.mark.integration

# A dead node is noticed NODE_TIMEOUT after its last heartbeat, at the next check (every HEARTBEAT_INTERVAL).
LEAVE_WITHIN = presence.NODE_TIMEOUT + 2 * presence.HEARTBEAT_INTERVAL  # 10 s


@pytest.fixture(
    params=[
        pytest.param({"REDIS_URL": None}, id="postgres"),
        pytest.param(
            {"REDIS_URL": REDIS_URL},
            id="redis",
            marks=needs_redis(),
        ),
    ]
)
def adapter_env(request: pytest.FixtureRequest) -> dict[str, str | None]:
    env: dict[str, str | None] = request.param
    return env


@pytest.fixture
async def nodes(
    adapter_env: dict[str, str | None], tmp_path: Path
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers on this worker's test database, started side by side, stopped after the test."""
    servers = tuple(
        ServerProcess(port=free_port(), log=tmp_path / f"node{number}.log", env=adapter_env) for number in (1, 2)
    )
    try:
        async with started_side_by_side(*servers):
            yield servers[0], servers[1]
    finally:
        await forget_nodes("room:lobby")


@pytest.fixture
def timings() -> Iterator[dict[str, float]]:
    measured: dict[str, float] = {}
    yield measured
    print("timings:", ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in measured.items()))


async def test_presence_and_broadcasts_cross_nodes_and_a_dead_node_leaves(
    committed_chat: None,
    settings: Settings,
    nodes: tuple[ServerProcess, ServerProcess],
    timings: dict[str, float],
) -> None:
    node1, node2 = nodes
    alice, bob = await user_fixture(name="Alice"), await user_fixture(name="Bob")
    a_id, b_id = str(alice.id), str(bob.id)
    async with AsyncExitStack() as stack:
        a = Member(
            await stack.enter_async_context(connect(node1.ws_url, await token_for(settings, alice))), "room:lobby"
        )
        b = Member(await stack.enter_async_context(connect(node2.ws_url, await token_for(settings, bob))), "room:lobby")
        assert (await a.client.join("room:lobby"))[4] == {"status": "ok", "response": {}}
        await a.until(lambda _: a.synced and a.users() == {a_id}, within=SEE_WITHIN, what="A's presence_state")

        # B joins on node 2: node 1 hears of it through replication, node 2 knows A the same way.
        started = time.monotonic()
        assert (await b.client.join("room:lobby"))[4] == {"status": "ok", "response": {}}
        await a.until(lambda _: a.users() == {a_id, b_id}, within=SEE_WITHIN, what="B's join on node 1")
        timings["B's join seen on node 1"] = time.monotonic() - started
        await b.until(lambda _: b.synced and b.users() == {a_id, b_id}, within=SEE_WITHIN, what="both users on node 2")
        for member in (a, b):
            assert [len(member.state[key]) for key in (a_id, b_id)] == [1, 1], member.state
            assert {meta["name"] for metas in member.state.values() for meta in metas.values()} == {"Alice", "Bob"}

        started = time.monotonic()
        ref = await a.client.push("room:lobby", "new_msg", {"body": "hello from node 1"})
        assert (await a.client.reply(ref))[4]["status"] == "ok"
        message = await b.expect("new_msg")
        timings["new_msg from node 1 to node 2"] = time.monotonic() - started
        assert (message[4]["body"], message[4]["user"]) == ("hello from node 1", {"id": a_id, "name": "Alice"})
        assert (await a.expect("new_msg"))[4]["body"] == "hello from node 1"  # the sender hears it too

        ref = await b.client.push("room:lobby", "new_msg", {"body": "hello back from node 2"})
        assert (await b.client.reply(ref))[4]["status"] == "ok"
        heard = (await a.expect("new_msg"))[4]
        assert {"body": heard["body"], "user": heard["user"]} == {
            "body": "hello back from node 2",
            "user": {"id": b_id, "name": "Bob"},
        }
        assert (await b.expect("new_msg"))[4]["body"] == "hello back from node 2"
        # Each message arrived once on each node.
        assert [m for m in (*a.others, *b.others) if m[3] == "new_msg"] == []

        # Node 2 dies without a word: node 1 must notice by the missing heartbeats.
        await asyncio.to_thread(node2.kill)
        timings["B's leave on node 1 after SIGKILL of node 2"] = await a.until(
            lambda message: (
                message is not None
                and message[3] == "presence_diff"
                and b_id in message[4]["leaves"]
                and message[4]["joins"] == {}
            ),
            within=LEAVE_WITHIN,
            what="a presence_diff with B's leave",
        )
        assert a.users() == {a_id}

        # Node 1 keeps serving A.
        ref = await a.client.push("room:lobby", "ping", {"n": 1})
        assert (await a.client.reply(ref))[4] == {"status": "ok", "response": {"pong": True, "n": 1}}
