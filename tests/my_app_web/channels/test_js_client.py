"""The official npm `phoenix` client (tests/js, on Node with `ws`) against `myapp server`.

Each test starts the server as a child process on this worker's test database, commits the users
the client signs in as, and runs `node --test` on one file of tests/js; node's output is shown when
it fails. The Node dependencies come from tests/js/package-lock.json: `npm ci --prefix tests/js`
(`make test` and `.ci/run` do it).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from my_app import accounts, chat
from my_app.config import Settings
from tests.support.channel_case import token_for
from tests.support.fixtures.accounts import user_fixture
from tests.support.live_server import ServerProcess, committed_chat_fixture, forget_nodes  # noqa: F401 - fixture
from tests.support.processes import PROJECT_ROOT, child_env, free_port
from tests.support.pubsub import eventually

pytestmark = pytest.mark.integration

JS_DIR = PROJECT_ROOT / "tests" / "js"
NODE_TIMEOUT = 120.0


@pytest.fixture(name="node")
def node_fixture() -> str:
    """The `node` executable; fails (never skips) when Node or the npm packages are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: install Node 20+ and npm, then run `npm ci --prefix tests/js`")
    if not (JS_DIR / "node_modules" / "phoenix").is_dir() or not (JS_DIR / "node_modules" / "ws").is_dir():
        pytest.fail("tests/js/node_modules is missing or incomplete: run `npm ci --prefix tests/js` (or `make test`)")
    return node


@contextlib.asynccontextmanager
async def running_server(log: Path, env: dict[str, str] | None = None) -> AsyncIterator[ServerProcess]:
    """`myapp server` on this worker's test database and a free port (with `env`), stopped at the end."""
    process = ServerProcess(port=free_port(), log=log, env=env or {})
    try:
        yield await asyncio.to_thread(process.start)
    finally:
        await asyncio.to_thread(process.stop)
        await forget_nodes("room:lobby")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    async with running_server(tmp_path / "server.log") as process:
        yield process


async def users(*names: str) -> dict[str, accounts.User]:
    """Committed users named after `names` (capitalized)."""
    return {name: await user_fixture(name=name.capitalize()) for name in names}


async def users_env(settings: Settings, people: dict[str, accounts.User]) -> str:
    """PHX_USERS, as tests/js/support.mjs reads it: {name: {id, name, token}}."""
    return orjson.dumps(
        {
            name: {"id": str(user.id), "name": user.name, "token": await token_for(settings, user)}
            for name, user in people.items()
        }
    ).decode()


class NodeRun:
    """`node --test FILE` with its output in a file, so a long run never blocks on a full pipe."""

    def __init__(self, node: str, script: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [node, "--test", "--test-reporter=spec", script],
                cwd=JS_DIR,
                env=child_env(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = NODE_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"node did not finish within {timeout}s; its output:\n{self.output()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_SUMMARY = re.compile(r"^\S* ?(tests|pass|fail|cancelled|skipped|todo) (\d+)$", re.MULTILINE)


def assert_passed(run: NodeRun, server: ServerProcess, *, tests: int) -> str:
    """Node exited 0 and ran exactly `tests` tests, all passed (none skipped); its output."""
    code = run.wait()
    output = run.output()
    assert code == 0, f"node --test exited with {code}:\n{output}\n--- the server's log ---\n{server.output()}"
    counts = {name: int(count) for name, count in _SUMMARY.findall(output)}
    expected = {"tests": tests, "pass": tests, "fail": 0, "cancelled": 0, "skipped": 0, "todo": 0}
    assert counts == expected, output
    return output


async def test_the_phoenix_js_client_connects_joins_pushes_and_sees_presence(
    node: str, committed_chat: None, settings: Settings, server: ServerProcess, tmp_path: Path
) -> None:
    people = await users("alice", "bob", "carol", "pia", "pete")
    # room:secret exists; alice is a member, carol (an ordinary user) is not.
    secret = await chat.create_room({"slug": "secret", "name": "Secret"})
    await chat.add_member(secret, people["alice"])

    env = {"PHX_SOCKET_URL": server.socket_url, "PHX_USERS": await users_env(settings, people)}
    run = NodeRun(node, "client.test.mjs", env, tmp_path / "node.log")
    try:
        output = await asyncio.to_thread(assert_passed, run, server, tests=9)
    finally:
        run.stop()
    print(output)  # the timings (pytest -s, or -rP)


async def test_the_phoenix_js_client_reconnects_and_rejoins_after_a_server_restart(
    node: str, committed_chat: None, settings: Settings, server: ServerProcess, tmp_path: Path
) -> None:
    people = await users("alice")
    signals = tmp_path / "signals"
    signals.mkdir()
    env = {
        "PHX_SOCKET_URL": server.socket_url,
        "PHX_USERS": await users_env(settings, people),
        "PHX_SIGNAL_DIR": str(signals),
    }
    run = NodeRun(node, "reconnect.test.mjs", env, tmp_path / "node.log")
    try:

        def asked_for_restart() -> bool:
            if run.process.poll() is not None:
                raise AssertionError(f"node exited before asking for the restart:\n{run.output()}")
            return (signals / "restart").exists()

        await eventually(asked_for_restart, "node to ask for the restart", within=NODE_TIMEOUT)
        started = time.monotonic()
        await asyncio.to_thread(server.restart)
        restart_seconds = time.monotonic() - started
        output = await asyncio.to_thread(assert_passed, run, server, tests=1)
    finally:
        run.stop()
    print(f"server restart took {restart_seconds:.2f}s\n{output}")


async def test_the_phoenix_js_client_is_refused_from_an_origin_check_origin_does_not_allow(
    node: str, committed_chat: None, settings: Settings, tmp_path: Path
) -> None:
    people = await users("alice")
    async with running_server(tmp_path / "server.log", {"CHECK_ORIGIN": "//allowed.example"}) as server:
        env = {"PHX_SOCKET_URL": server.socket_url, "PHX_USERS": await users_env(settings, people)}
        run = NodeRun(node, "origin.test.mjs", env, tmp_path / "node.log")
        try:
            await asyncio.to_thread(assert_passed, run, server, tests=3)
        finally:
            run.stop()
