"""`myapp server`'s socket settings, seen from clients: worker processes and compression.

WEB_CONCURRENCY=2 runs two worker processes on one port, each a PubSub/Presence node of its own:
sockets on either worker see each other's messages and presences. SOCKET_COMPRESS decides whether
the socket accepts permessage-deflate (off by default, as Phoenix's `compress: false`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import psutil
import pytest

from my_app.config import Settings
from tests.support.channel_case import SEE_WITHIN, Member, connect, token_for
from tests.support.fixtures.accounts import user_fixture
from tests.support.live_server import ServerProcess, committed_chat_fixture, forget_nodes  # noqa: F401 - fixture
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


def workers_of(server: ServerProcess) -> list[psutil.Process]:
    """The server's worker processes (uvicorn spawns them with multiprocessing, beside its resource tracker)."""
    assert server.process is not None
    return [p for p in psutil.Process(server.process.pid).children() if "spawn_main" in " ".join(p.cmdline())]


def sockets_per_worker(server: ServerProcess) -> list[int]:
    """Established connections on the server's port, per worker process."""
    return [
        sum(1 for c in worker.net_connections() if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == server.port)
        for worker in workers_of(server)
    ]


@contextlib.contextmanager
def only_accepting(chosen: psutil.Process, workers: list[psutil.Process]) -> Iterator[None]:
    """The other workers paused (SIGSTOP), so that `chosen` accepts the next connections.

    The workers share one listening socket and the kernel hands a connection to whichever accepts
    first: pausing the others is the only way to say which. Keep the block short (a paused node
    misses its Presence heartbeats after a few seconds).
    """
    others = [worker for worker in workers if worker.pid != chosen.pid]
    for worker in others:
        worker.suspend()
    try:
        yield
    finally:
        for worker in others:
            worker.resume()


async def test_two_workers_are_two_nodes_whose_sockets_see_each_other(
    committed_chat: None, settings: Settings, tmp_path: Path
) -> None:
    server = ServerProcess(port=free_port(), log=tmp_path / "server.log", env={"WEB_CONCURRENCY": "2"})
    try:
        await asyncio.to_thread(server.start)
        workers = workers_of(server)
        assert len(workers) == 2
        async with AsyncExitStack() as stack:
            members: list[Member] = []
            users: list[str] = []
            for number, worker in enumerate(workers):
                user = await user_fixture(name=f"User {number}")
                with only_accepting(worker, workers):
                    client = await stack.enter_async_context(connect(server.ws_url, await token_for(settings, user)))
                    assert (await client.join("room:lobby"))[4] == {"status": "ok", "response": {}}
                members.append(Member(client, "room:lobby"))
                users.append(str(user.id))
            assert sockets_per_worker(server) == [1, 1]
            everyone = set(users)
            for member in members:
                await member.until(
                    lambda _, m=member: m.synced and m.users() == everyone, within=SEE_WITHIN, what="everyone listed"
                )
            ref = await members[0].client.push("room:lobby", "new_msg", {"body": "to both workers"})
            assert (await members[0].client.reply(ref))[4]["status"] == "ok"
            for member in members:
                message = await member.expect("new_msg")
                heard = {key: message[4][key] for key in ("body", "user")}  # and the server's sent_at
                assert heard == {"body": "to both workers", "user": {"id": users[0], "name": "User 0"}}
    finally:
        await asyncio.to_thread(server.stop)
        await forget_nodes("room:lobby")


@pytest.mark.parametrize(("compress", "extensions"), [(None, None), ("true", "permessage-deflate")])
async def test_socket_compression_is_off_unless_socket_compress_is_set(
    committed_chat: None, settings: Settings, tmp_path: Path, compress: str | None, extensions: str | None
) -> None:
    server = ServerProcess(port=free_port(), log=tmp_path / "server.log", env={"SOCKET_COMPRESS": compress})
    try:
        await asyncio.to_thread(server.start)
        user = await user_fixture()
        # The client offers permessage-deflate, as browsers do.
        async with connect(server.ws_url, await token_for(settings, user), compression="deflate") as client:
            headers: Any = client.connection.response.headers
            accepted = headers.get("Sec-WebSocket-Extensions")
            assert (accepted or "").split(";")[0] == (extensions or "")
            assert (await client.join("room:lobby"))[4]["status"] == "ok"
    finally:
        await asyncio.to_thread(server.stop)
        await forget_nodes("room:lobby")


async def test_a_worker_that_answers_late_is_not_killed(committed_chat: None, tmp_path: Path) -> None:
    """A worker starved of CPU for a while (a busy machine, a worker still importing the app) keeps
    running: uvicorn's health check waits WORKER_HEALTHCHECK_TIMEOUT (30 s), not its own 5 s."""
    server = ServerProcess(port=free_port(), log=tmp_path / "server.log", env={"WEB_CONCURRENCY": "2"})
    try:
        await asyncio.to_thread(server.start)
        workers = workers_of(server)
        assert len(workers) == 2
        workers[0].suspend()
        try:
            await asyncio.sleep(8)  # the behaviour under test: no answer to the supervisor's pings for 8 s
        finally:
            workers[0].resume()
        await asyncio.sleep(1)  # one more round of pings, answered now

        assert sorted(p.pid for p in workers_of(server)) == sorted(p.pid for p in workers)
    finally:
        await asyncio.to_thread(server.stop)
