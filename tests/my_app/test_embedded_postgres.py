"""Leases on the embedded PostgreSQL: several processes share one server; the last one out stops it.

Each test starts a server of its own in a fresh data folder, from child processes, as `make run`
and `make test` would.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from my_app import embedded_postgres
from tests.support.embedded import fresh_data_dir
from tests.support.processes import child_env, stop, wait_until

pytestmark = pytest.mark.integration

# Holds the server until its stdin closes, then exits normally (atexit releases the lease).
HOLDER = """
import sys
from pathlib import Path
from my_app import embedded_postgres

print(embedded_postgres.server_url(Path(sys.argv[1])), flush=True)
sys.stdin.read()
"""

# Uses the server briefly, as a second process would, and lets go.
VISITOR = """
import sys
from pathlib import Path
import psycopg
from my_app import embedded_postgres

data_dir = Path(sys.argv[1])
with psycopg.connect(embedded_postgres.server_url(data_dir)) as conn:
    conn.execute("SELECT 1")
embedded_postgres.release(data_dir)
print("running" if embedded_postgres.is_running(data_dir) else "stopped", flush=True)
"""

START_TIMEOUT = 120  # initdb of a fresh cluster, then start-up


def python(script: str, data_dir: Path, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, str(data_dir)],
        env=child_env({embedded_postgres.SERVER_URL_VARIABLE: None}),
        text=True,
        **options,  # type: ignore[call-overload]
    )


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"no output within {timeout}s"
    return process.stdout.readline().strip()


def visit(data_dir: Path) -> str:
    """Run a second process that acquires and releases the server; what it saw after letting go."""
    result = subprocess.run(
        [sys.executable, "-c", VISITOR, str(data_dir)],
        env=child_env({embedded_postgres.SERVER_URL_VARIABLE: None}),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def leases(data_dir: Path) -> list[str]:
    return sorted(path.name for path in (data_dir / "postgres-leases").iterdir())


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data folder; whatever server a test left running in it is stopped at the end."""
    with fresh_data_dir() as path:
        yield path


@pytest.fixture
def holder(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A process that started the server and holds it, and the server's URL."""
    process = python(HOLDER, data_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        url = read_line(process, START_TIMEOUT)
        yield process, url
    finally:
        stop(process)


def test_a_second_process_letting_go_does_not_stop_the_first_one_s_server(
    data_dir: Path, holder: tuple[subprocess.Popen[str], str]
) -> None:
    process, url = holder
    assert embedded_postgres.is_running(data_dir)
    assert leases(data_dir) == [str(process.pid)]

    assert visit(data_dir) == "running"

    assert embedded_postgres.is_running(data_dir)
    assert leases(data_dir) == [str(process.pid)]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_last_process_to_let_go_stops_the_server(data_dir: Path, holder: tuple[subprocess.Popen[str], str]) -> None:
    process, _url = holder
    assert visit(data_dir) == "running"

    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=60) == 0

    wait_until(lambda: not embedded_postgres.is_running(data_dir), timeout=30, message="the server is still up")
    assert leases(data_dir) == []


def test_a_killed_process_s_lease_does_not_keep_the_server_alive(
    data_dir: Path, holder: tuple[subprocess.Popen[str], str]
) -> None:
    process, _url = holder
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    # Killed without letting go: its lease is still there, and so is the server.
    assert leases(data_dir) == [str(process.pid)]
    assert embedded_postgres.is_running(data_dir)

    assert visit(data_dir) == "stopped"

    assert not embedded_postgres.is_running(data_dir)
    assert leases(data_dir) == []


def test_a_restarted_server_keeps_its_data(data_dir: Path) -> None:
    first = python(HOLDER, data_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        url = read_line(first, START_TIMEOUT)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE kept")
    finally:
        assert first.stdin is not None
        first.stdin.close()
        first.wait(timeout=60)
        stop(first)
    wait_until(lambda: not embedded_postgres.is_running(data_dir), timeout=30, message="the server is still up")

    second = python(HOLDER, data_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        url = read_line(second, START_TIMEOUT)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'kept'").fetchone() == (1,)
    finally:
        stop(second)
