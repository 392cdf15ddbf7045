"""`myapp server` child processes on this pytest worker's database, and committed chat data for them.

A server in a child process does not see the `db` sandbox: the users and rooms it must know are
committed for real, through the `committed_chat` fixture, which empties the users and rooms tables
before and after the test (each pytest-xdist worker has its own database and runs one test at a
time, so no other test's data is touched).

The child inherits MYAPP_TEST_PARTITION (this worker's database) and the embedded server's URL
from the environment, with MYAPP_ENV=test, so it signs and checks socket tokens with the same
secret as the test.

A test module imports the fixture it uses (`from tests.support.live_server import
committed_chat_fixture`) and asks for it by name (`committed_chat`).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text

from my_app import application, presence, repo
from tests.support.processes import MYAPP, PROJECT_ROOT, answers, child_env, stop, wait_until

START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


async def truncate_chat() -> None:
    """Empty the users and rooms tables (CASCADE: memberships, tokens, and the rest)."""
    async with repo.engine().begin() as connection:
        await connection.execute(text("TRUNCATE users, rooms CASCADE"))


@pytest.fixture(name="committed_chat")
async def committed_chat_fixture(started_app: application.Application) -> AsyncIterator[None]:
    """The test commits users and rooms for real; they are wiped before and after it."""
    await truncate_chat()
    try:
        yield
    finally:
        await truncate_chat()


async def forget_nodes(topic: str, *, within: float = presence.NODE_TIMEOUT + 3 * presence.HEARTBEAT_INTERVAL) -> None:
    """Wait until this process's Presence lists nobody in `topic`.

    The test process is a node too (its app listens on the same database), so it replicates the
    presences of the servers a test starts. A server stopped with SIGTERM says goodbye at once; one
    killed is forgotten only after NODE_TIMEOUT. Waiting here keeps those presences out of the
    next test's presence_state.
    """
    deadline = time.monotonic() + within
    while presence.list_presences(topic):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"presences of stopped servers still listed after {within}s: {presence.list_presences(topic)}"
            )
        await asyncio.sleep(0.1)


def ready(base_url: str) -> bool:
    """True when the server answers /ready with 200 (database, jobs and PubSub listening)."""
    return answers(f"{base_url}/ready")


@dataclass
class ServerProcess:
    """`myapp server --port PORT` in the test environment; its output goes to `log` (all starts appended)."""

    port: int
    log: Path
    env: Mapping[str, str | None] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """What `tests.support.channel_case.connect` takes (it appends `/socket/websocket`)."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def socket_url(self) -> str:
        """The endpoint the JS client takes (`/websocket` is appended by the client)."""
        return f"ws://127.0.0.1:{self.port}/socket"

    def start(self) -> ServerProcess:
        """Start the server and wait until it is ready; fails with its output if it exits first."""
        self.spawn()
        self.wait_ready()
        return self

    def spawn(self) -> None:
        """Start the server process without waiting for it (see `wait_ready`)."""
        assert self.process is None or self.process.poll() is not None, "the server is already running"
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [str(MYAPP), "server", "--port", str(self.port)],
                cwd=PROJECT_ROOT,
                env=child_env({"MYAPP_ENV": "test", **self.env}),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        """Wait until the server answers /ready; fails with its output if it exits first."""
        process = self.process
        assert process is not None, "the server was never started"

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the server exited with {process.returncode}:\n{self.output()}")
            return ready(self.base_url)

        wait_until(up, timeout=START_TIMEOUT, message=f"the server on port {self.port} never became ready")

    def terminate(self) -> int:
        """SIGTERM, as a deploy does, and wait for the exit; its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server did not stop within {STOP_TIMEOUT}s:\n{self.output()}") from None

    def kill(self) -> None:
        """SIGKILL: the node dies without telling anyone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop with SIGTERM, then start again on the same port."""
        code = self.terminate()
        assert code == 0, f"the server exited with {code} on SIGTERM:\n{self.output()}"
        self.start()

    def stop(self) -> None:
        """Make sure the process is gone (test clean-up)."""
        if self.process is not None:
            stop(self.process, STOP_TIMEOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@asynccontextmanager
async def started_side_by_side(*servers: ServerProcess) -> AsyncIterator[None]:
    """Start `servers` at once (their start-ups overlap) and wait until each is ready; stop them all at the end."""
    try:
        for server in servers:
            server.spawn()
        for server in servers:
            await asyncio.to_thread(server.wait_ready)
        yield
    finally:
        for server in servers:
            await asyncio.to_thread(server.stop)
