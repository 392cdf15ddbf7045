"""The database goes away and comes back under a steady request stream (issue 9, "Survive a database restart").

A real `myapp server` (job workers inside) runs on a database of its own (`partition_database`). The
"restart" refuses new connections to that database only (`ALLOW_CONNECTIONS false`) and terminates
every one of its backends, as a restart does for the server's pools, its PubSub listener and the job
workers' LISTEN connections; then it lets connections in again. The embedded server itself keeps
running, so tests in parallel (each on its own database) never notice.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from my_app import database
from tests.support.databases import partition_database
from tests.support.jobs import eventually
from tests.support.live_server import ServerProcess
from tests.support.processes import free_port

pytestmark = pytest.mark.integration

CLIENTS = 4
REQUEST_BOUND = 3.0  # seconds: no request may hang longer than this, outage or not
BACK_WITHIN = 1.0  # seconds after the database accepts connections again, every request succeeds
OUTAGE_ANSWERS = 30  # 503s the outage lasts for: without the traceback limit, as many tracebacks
UNAVAILABLE = {"errors": {"detail": "Service Unavailable"}}
PASSWORD = "restart-test-password"


@dataclass
class Answer:
    began: float
    took: float
    status: int | None  # None: no HTTP answer at all (timeout, connection error)
    body: object


@contextmanager
def database_down(db: database.Database) -> Iterator[None]:
    """Refuse new connections to `db` and cut the open ones; let connections in again on exit."""
    name = sql.Identifier(db.name)
    with psycopg.connect(db.maintenance_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(name))
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (db.name,),
            )
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(name))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerProcess, database.Database]]:
    with partition_database() as (partition, db):
        process = ServerProcess(
            port=free_port(),
            log=tmp_path / "server.log",
            env={"MYAPP_TEST_PARTITION": partition, "JOBS_IN_SERVER": "true", "RATE_LIMIT_REGISTRATION": "1000/minute"},
        )
        try:
            process.start()
            yield process, db
        finally:
            process.stop()


@pytest.fixture
async def http(server: tuple[ServerProcess, database.Database]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server[0].base_url, timeout=10) as client:
        yield client


async def register(http: httpx.AsyncClient) -> str:
    """A new user (its welcome and confirmation emails enqueued); returns the email."""
    email = f"restart-{uuid.uuid4().hex[:8]}@example.com"
    response = await http.post(
        "/api/users/register", json={"user": {"email": email, "name": "R", "password": PASSWORD}}
    )
    assert response.status_code == 201, response.text
    return email


async def poll(http: httpx.AsyncClient, token: str, answers: list[Answer], stop: asyncio.Event) -> None:
    while not stop.is_set():
        began = time.monotonic()
        try:
            response = await http.get("/api/users/me", headers={"authorization": f"Bearer {token}"})
            status, body = response.status_code, response.json()
        except httpx.TransportError as exc:
            status, body = None, repr(exc)
        answers.append(Answer(began, time.monotonic() - began, status, body))
        await asyncio.sleep(0.005)


def job_statuses(db: database.Database, email: str) -> list[str]:
    with psycopg.connect(db.url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT status::text FROM procrastinate_jobs WHERE args->>'user_id' ="
            " (SELECT id::text FROM users WHERE email = %s) ORDER BY id",
            (email,),
        ).fetchall()
    return [row[0] for row in rows]


async def test_a_database_restart_under_load_answers_503_at_once_recovers_within_a_second_and_jobs_run_again(
    server: tuple[ServerProcess, database.Database], http: httpx.AsyncClient
) -> None:
    process, db = server
    email = await register(http)
    login = await http.post("/api/sessions", json={"email": email, "password": PASSWORD})
    token = login.json()["data"]["token"]
    answers: list[Answer] = []
    stop = asyncio.Event()
    clients = [asyncio.create_task(poll(http, token, answers, stop)) for _ in range(CLIENTS)]
    try:
        await eventually(lambda: _true(sum(a.status == 200 for a in answers) >= 10), within=30, message="10 answers")

        down = time.monotonic()
        with database_down(db):
            # The outage lasts until the server has answered it OUTAGE_ANSWERS times (a restart takes ~0.2 s).
            await eventually(
                lambda: _true(sum(a.status == 503 for a in answers if a.began >= down) >= OUTAGE_ANSWERS),
                within=10,
                message="503 answers during the outage",
            )
        up = time.monotonic()
        settled = up + BACK_WITHIN
        await eventually(
            lambda: _true(sum(a.began >= settled for a in answers) >= 20), within=30, message="answers after"
        )
    finally:
        stop.set()
        await asyncio.gather(*clients)

    during = [a for a in answers if a.began >= down - REQUEST_BOUND]
    assert max(a.took for a in during) < REQUEST_BOUND, sorted(a.took for a in during)[-5:]
    assert {a.status for a in during} <= {200, 503}, [a for a in during if a.status not in (200, 503)][:3]
    assert all(a.body == UNAVAILABLE for a in during if a.status == 503)
    late = [a for a in answers if a.began >= settled]
    assert [a for a in late if a.status != 200] == []

    # The job workers lost their LISTEN connections and came back: /ready says so, and a job runs.
    async def ready() -> bool:
        response = await http.get("/ready")
        return response.status_code == 200 and response.json()["checks"]["jobs"] == "ok"

    await eventually(ready, within=30, message="/ready to report the jobs ok again")
    after = await register(http)
    statuses = await eventually(
        lambda: _settled(db, after), within=30, message="the emails of a user registered after the restart"
    )
    assert statuses == ["succeeded", "succeeded"]

    output = process.output()
    assert "Exception in ASGI application" not in output
    assert "job worker for queue" in output  # each restart logs one line
    failed = sum(a.status == 503 for a in answers)
    tracebacks = output.count("Traceback (most recent call last)")
    assert tracebacks <= 10, (tracebacks, failed)  # one per distinct error, not one per failed request


async def _true(value: bool) -> bool:
    return value


async def _settled(db: database.Database, email: str) -> list[str] | None:
    statuses = await asyncio.to_thread(job_statuses, db, email)
    return statuses if len(statuses) == 2 and all(s in ("succeeded", "failed") for s in statuses) else None
