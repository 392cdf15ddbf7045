"""What the benchmarks share: a scratch database, a server subprocess, and how to describe the set-up."""

from __future__ import annotations

import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from psycopg.conninfo import conninfo_to_dict

from my_app import database, migrations
from my_app.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def scratch_database(base: Settings, name: str) -> database.Database:
    """`name` on the server the dev settings point at (embedded unless DATABASE_URL): fresh and migrated."""
    server = database.resolve(base)  # starts the embedded server when there is no DATABASE_URL
    scratch = database.Database(url=database.with_database(server.url, name), name=name, embedded=server.embedded)
    database.drop(scratch)
    database.create(scratch)
    migrations.migrate(scratch)
    return scratch


def describe_database(db: database.Database, base: Settings) -> str:
    params = conninfo_to_dict(db.url)
    if db.embedded:
        return f"embedded PostgreSQL (no DATABASE_URL; data in {base.data_dir / 'postgres'}), database {db.name}"
    where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
    return f"DATABASE_URL's server {where}, database {db.name} (user {params.get('user') or '?'})"


def machine() -> str:
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    command: list[str], env: dict[str, str], ready_url: str, *, quiet: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """A server subprocess, once `ready_url` answers; stopped at the end (SIGTERM, SIGKILL after 30 s).

    `env` is added to this process's environment; `quiet` sends its output to /dev/null (an access
    log that is written, not read).
    """
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=output, stderr=output)
    try:
        wait_until_ready(ready_url, process)
        yield process
    finally:
        stop(process)


@contextmanager
def server_process(db: database.Database, port: int, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """The app on uvicorn, one worker process, on `db`; stopped (SIGTERM) at the end."""
    environment = {"MYAPP_ENV": "dev", "DATABASE_URL": db.url, "JOBS_IN_SERVER": "false", "LOG_LEVEL": "WARNING", **env}
    command = [sys.executable, "-m", "my_app.cli", "server", "--port", str(port), "--workers", "1"]
    with serve(command, environment, f"http://127.0.0.1:{port}/health") as process:
        yield process


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values` by the nearest-rank method; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 30) -> None:
    """SIGTERM, as a deploy stops a server; SIGKILL if it is still there after `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
