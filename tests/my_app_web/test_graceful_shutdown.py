"""Stopping the server: SIGTERM (a deploy) and Ctrl-C let in-flight requests finish, then exit cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from my_app import embedded_postgres
from tests.support.databases import partition_database
from tests.support.embedded import fresh_data_dir
from tests.support.processes import MYAPP, PROJECT_ROOT, answers, child_env, free_port, stop, wait_until

pytestmark = pytest.mark.integration

START_TIMEOUT = 120
STOP_TIMEOUT = 60


@pytest.fixture
def own_database_env() -> Iterator[dict[str, str | None]]:
    """The env of a server in the test environment, on a migrated database of its own."""
    with partition_database() as (partition, _database):
        yield {"MYAPP_ENV": "test", "MYAPP_TEST_PARTITION": partition}


def start(args: list[str], env: dict[str, str | None], log: Path) -> subprocess.Popen[str]:
    """Start a server whose output goes to `log` (a file: a pipe nobody reads could fill up and block it)."""
    with log.open("w") as output:
        return subprocess.Popen(
            args, cwd=PROJECT_ROOT, env=child_env(env), stdout=output, stderr=subprocess.STDOUT, text=True
        )


def wait_for_health(server: subprocess.Popen[str], port: int, log: Path) -> None:
    def up() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode}:\n{log.read_text()}")
        return answers(f"http://127.0.0.1:{port}/health")

    wait_until(up, timeout=START_TIMEOUT, message="the server never answered /health")


def test_sigterm_stops_the_server_cleanly(own_database_env: dict[str, str | None], tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    server = start([str(MYAPP), "server", "--port", str(port)], own_database_env, log)
    try:
        wait_for_health(server, port, log)
        assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10).status_code == 200

        server.send_signal(signal.SIGTERM)

        assert server.wait(timeout=STOP_TIMEOUT) == 0
        assert not answers(f"http://127.0.0.1:{port}/health")
        output = log.read_text()
        assert "Application shutdown complete" in output  # the lifespan ran: pools closed
        assert "Traceback" not in output
    finally:
        stop(server)


def test_an_in_flight_request_finishes_during_shutdown(own_database_env: dict[str, str | None], tmp_path: Path) -> None:
    port = free_port()
    server = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.support.slow_app:create",
            "--port",
            str(port),
            "--timeout-graceful-shutdown",
            "10",
        ],
        {**own_database_env, "SLOW_APP_DIR": str(tmp_path)},
        tmp_path / "server.log",
    )
    try:
        wait_for_health(server, port, tmp_path / "server.log")
        with ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(httpx.get, f"http://127.0.0.1:{port}/slow", timeout=STOP_TIMEOUT)
            wait_until((tmp_path / "started").exists, timeout=30, message="/slow never started")

            server.send_signal(signal.SIGTERM)
            # Shutting down: no new connections, while the slow request is still being served.
            wait_until(
                lambda: not answers(f"http://127.0.0.1:{port}/health"),
                timeout=30,
                message="the server still accepts new requests after SIGTERM",
            )
            assert not slow.done()
            (tmp_path / "release").touch()

            response = slow.result(timeout=STOP_TIMEOUT)

        assert response.status_code == 200
        assert response.json() == {"status": "done"}
        server.wait(timeout=STOP_TIMEOUT)
        # uvicorn re-raises SIGTERM once it has shut down gracefully (`myapp server` turns that into 0).
        assert server.returncode in (0, -signal.SIGTERM)
    finally:
        stop(server)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data folder; whatever server a test left running in it is stopped at the end."""
    with fresh_data_dir() as path:
        yield path


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_server_stops_the_embedded_postgresql_it_started(
    data_dir: Path, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    env: dict[str, str | None] = {
        "MYAPP_ENV": "test",
        "DATA_DIR": str(data_dir),
        embedded_postgres.SERVER_URL_VARIABLE: None,
        "MYAPP_TEST_PARTITION": None,
        "DATABASE_URL": None,
    }
    log = tmp_path / "server.log"
    server = start([str(MYAPP), "server", "--setup", "--port", str(port)], env, log)
    try:
        wait_for_health(server, port, log)
        assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10).status_code == 200
        assert embedded_postgres.is_running(data_dir)

        server.send_signal(stop_signal)

        assert server.wait(timeout=STOP_TIMEOUT) == 0
        assert not embedded_postgres.is_running(data_dir)
        assert list((data_dir / "postgres-leases").iterdir()) == []
    finally:
        stop(server)


def test_sigterm_ends_open_live_streams_at_once(own_database_env: dict[str, str | None], tmp_path: Path) -> None:
    """A draining node hands its live pages back at once: their browsers reconnect to another node.

    Without the drain, uvicorn would wait SHUTDOWN_TIMEOUT for the open event streams, and then cut them.
    """
    port = free_port()
    log = tmp_path / "server.log"
    server = start([str(MYAPP), "server", "--port", str(port)], {**own_database_env, "SHUTDOWN_TIMEOUT": "30"}, log)
    try:
        wait_for_health(server, port, log)
        url = f"http://127.0.0.1:{port}/products"

        def hold_stream() -> tuple[str, float]:
            """Read the page's stream until the server ends it; what it said and when it ended."""
            received = ""
            with httpx.stream("GET", url, headers={"Accept": "text/event-stream"}, timeout=STOP_TIMEOUT) as stream:
                assert stream.status_code == 200
                for chunk in stream.iter_text():
                    received += chunk
                    if "event: live" in received:
                        (tmp_path / "streaming").touch()
            return received, time.monotonic()

        with ThreadPoolExecutor(max_workers=2) as pool:
            streams = [pool.submit(hold_stream) for _ in range(2)]
            wait_until((tmp_path / "streaming").exists, timeout=30, message="the live stream never sent its page")
            time.sleep(0.5)  # both streams are open and idle
            signalled = time.monotonic()
            server.send_signal(signal.SIGTERM)
            results = [future.result(timeout=STOP_TIMEOUT) for future in streams]

        for received, ended in results:
            assert received.startswith("retry: 1000"), "the browser would not know when to reconnect"
            assert ended - signalled < 3, f"the stream stayed open {ended - signalled:.1f}s after SIGTERM"
        assert server.wait(timeout=STOP_TIMEOUT) == 0
        stopped_after = time.monotonic() - signalled
        assert stopped_after < 10, f"the server took {stopped_after:.1f}s to stop (SHUTDOWN_TIMEOUT is 30 s)"
        output = log.read_text()
        assert "draining: ended 2 live page stream(s)" in output
        assert "Traceback" not in output
    finally:
        stop(server)
