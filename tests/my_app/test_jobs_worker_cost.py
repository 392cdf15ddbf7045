"""What running a job costs the worker: two statements (fetch, finish), no log line per success;
and what enqueueing one costs: one statement.

Guards the job queue's throughput (bench/jobs_throughput.py, issue 15): the queue's pool is in
autocommit and skips its liveness check for a connection it lent within the last second, and
procrastinate's per-job INFO lines are DEBUG lines. Runs real workers on committed data.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from procrastinate import Blueprint
from procrastinate import exceptions as procrastinate_exceptions
from sqlalchemy import text

from my_app import application, jobs, repo
from my_app.config import Settings
from tests.support.jobs import committed_db_fixture, job_row  # noqa: F401 - fixture

QUEUE = "worker_cost"
NAMESPACE = "worker_cost"

blueprint = Blueprint()


@blueprint.task(name="nothing", queue=QUEUE)
async def nothing(*, n: int) -> None:
    """Succeeds at once."""


@blueprint.task(name="locked", queue=QUEUE, queueing_lock="only-one-waiting")
async def locked() -> None:
    """At most one of these waits at a time (procrastinate's queueing lock)."""


@blueprint.task(name="broken", queue=QUEUE)
async def broken() -> None:
    """Fails, for good (no retry strategy)."""
    raise RuntimeError("broken on purpose")


@pytest.fixture(name="registered")
async def registered_fixture(committed_db: None) -> None:
    """Committed data (jobs visible to the worker's pool), and this module's tasks registered."""
    jobs.register_tasks({NAMESPACE: blueprint})


pytestmark = pytest.mark.usefixtures("registered")


@contextmanager
def statements_sent() -> Iterator[collections.Counter[str]]:
    """Every statement psycopg sends while the block runs (queries, and its own BEGIN/COMMIT), by kind."""
    sent: collections.Counter[str] = collections.Counter()
    execute = psycopg.AsyncCursor.execute
    exec_command = psycopg.AsyncConnection._exec_command

    async def counted_execute(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent[_kind(query)] += 1
        return await execute(self, query, *args, **kwargs)

    def counted_command(self: psycopg.AsyncConnection[Any], command: Any, *args: Any, **kwargs: Any) -> Any:
        sent[_kind(command)] += 1
        return exec_command(self, command, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(psycopg.AsyncCursor, "execute", counted_execute)
        patch.setattr(psycopg.AsyncConnection, "_exec_command", counted_command)
        yield sent


_FUNCTION = re.compile(r"\b(procrastinate_\w+)\(")


def _kind(query: Any) -> str:
    """procrastinate's SQL function the statement calls, else its first word ("" for a connection check)."""
    text = query.decode() if isinstance(query, bytes) else str(query)
    function = _FUNCTION.search(text)
    return function.group(1) if function else (text.split() or [""])[0].upper()


async def run_queue(settings: Settings, concurrency: int = 4) -> None:
    """The worker JobWorkers runs for QUEUE, until the queue is empty."""
    await jobs.new_worker(settings, QUEUE, concurrency, wait=False, listen_notify=False).run()  # type: ignore[no-untyped-call]


async def test_each_job_costs_the_worker_two_statements_fetch_and_finish(settings: Settings) -> None:
    ids = [await nothing.defer_async(n=n) for n in range(30)]
    await run_queue(settings)  # a first pass: connections opened, checked and warm

    more = [await nothing.defer_async(n=n) for n in range(30, 60)]
    with statements_sent() as sent:
        await run_queue(settings)

    assert {(await job_row(job_id)).status for job_id in ids + more} == {"succeeded"}
    per_job = {statement: count / len(more) for statement, count in sent.items() if count >= len(more)}
    # One fetch and one finish per job (and one more fetch that finds the queue empty); no BEGIN,
    # COMMIT or connection check around them. The rest is the worker's start and end.
    assert sorted(per_job) == ["procrastinate_fetch_job_v2", "procrastinate_finish_job_v1"], sent
    assert sum(sent.values()) <= 2 * len(more) + 10, sent


async def test_successful_jobs_log_no_line_at_info_and_failures_still_do(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    fine = await nothing.defer_async(n=1)
    failing = await broken.defer_async()
    with caplog.at_level(logging.INFO):
        await run_queue(settings)

    assert (await job_row(fine)).status == "succeeded"
    assert (await job_row(failing)).status == "failed"
    worker_lines = [record for record in caplog.records if record.name.startswith("procrastinate.worker")]
    per_job = [record.getMessage() for record in worker_lines if getattr(record, "job", None)]
    assert not any("Starting job" in line or "Success" in line for line in per_job), per_job
    assert [record.levelname for record in worker_lines if "ended with status: Error" in record.getMessage()] == [
        "ERROR"
    ]


async def test_with_debug_logging_each_job_logs_its_start_and_success_as_debug_lines(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await nothing.defer_async(n=1)
    with caplog.at_level(logging.DEBUG):
        await run_queue(settings)

    lines = {
        (record.levelname, record.getMessage().split(" ", 2)[0])
        for record in caplog.records
        if getattr(record, "action", None) in ("start_job", "job_success")
    }
    assert lines == {("DEBUG", "Starting"), ("DEBUG", "Job")}


async def test_a_connection_the_server_closed_while_idle_is_replaced_before_a_job_uses_it(
    started_app: application.Application, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repo, "PING_AFTER_IDLE", 0.0)  # as after a second of idleness: every lend is checked
    queue = started_app.job_queue
    assert queue is not None
    async with queue.pool.connection() as connection:
        pids = [connection.info.backend_pid]
    async with await psycopg.AsyncConnection.connect(conninfo(started_app), autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))

    job_id = await nothing.defer_async(n=1)  # through the pool: its check replaces the dead connection
    await run_queue(settings)

    assert (await job_row(job_id)).status == "succeeded"


async def test_job_arguments_are_encoded_by_orjson_through_the_pool_and_in_a_callers_transaction() -> None:
    # orjson writes a datetime as ISO 8601 (the standard library's json refuses it): both ways of
    # enqueueing encode the arguments with it, though neither sets it per statement any more.
    at = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    through_pool = await nothing.defer_async(n=at)  # type: ignore[arg-type]
    async with repo.transaction() as session:
        in_transaction = await jobs.enqueue(session, nothing, n=at)
    assert in_transaction is not None

    for job_id in (through_pool, in_transaction):
        assert (await job_row(job_id)).args == {"n": "2026-12-02T07:30:00+00:00"}


async def test_a_worker_fetches_from_a_never_analyzed_queue_without_reading_every_waiting_job(
    started_app: application.Application,
) -> None:
    # A freshly migrated table has no statistics: PostgreSQL then believes the queue nearly empty and,
    # left to itself, reads and sorts every waiting job for each fetch. The fetch function must walk
    # the queue's priority index instead (migration 20261202_0011): a handful of rows per fetch.
    waiting = 2_000
    queue = started_app.job_queue
    assert queue is not None
    async with await psycopg.AsyncConnection.connect(conninfo(started_app), autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
            " SELECT %s, %s, jsonb_build_object('n', i) FROM generate_series(1, %s) AS i",
            (QUEUE, nothing.name, waiting),
        )
        # As never analyzed (what a fresh database has): no statistics and no row estimate.
        await conn.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE relname = 'procrastinate_jobs'")
        await conn.execute("DELETE FROM pg_statistic WHERE starelid = 'procrastinate_jobs'::regclass")
        worker_id = (await (await conn.execute("SELECT procrastinate_register_worker_v1()")).fetchone() or [0])[0]
        async with conn.transaction():  # the table's counters over the fetch, read in its transaction
            before = await rows_read(conn)
            fetched = await (
                await conn.execute("SELECT id FROM procrastinate_fetch_job_v2(%s::varchar[], %s)", ([QUEUE], worker_id))
            ).fetchone()
            read = await rows_read(conn) - before

    assert fetched is not None
    assert read < 10, f"one fetch read {read} of {waiting} waiting jobs"


def conninfo(app: application.Application) -> str:
    """The job queue's database (its pool's connection string)."""
    assert app.job_queue is not None
    info = app.job_queue.pool.conninfo
    assert isinstance(info, str)
    return info


async def rows_read(conn: psycopg.AsyncConnection[Any]) -> int:
    """Rows of procrastinate_jobs this session has read so far (by scans and index lookups)."""
    cursor = await conn.execute(
        "SELECT seq_tup_read + idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = 'procrastinate_jobs'"
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def test_a_job_enqueued_in_a_callers_transaction_is_one_statement_of_it_without_a_savepoint() -> None:
    async with repo.transaction() as session:
        await session.execute(text("SELECT 1"))  # the caller's transaction has begun
        with statements_sent() as sent:
            job_id = await jobs.enqueue(session, nothing, n=1)

    assert job_id is not None
    assert (await job_row(job_id)).status == "todo"
    assert dict(sent) == {"procrastinate_defer_jobs_v1": 1}, sent


async def test_a_job_its_queueing_lock_refuses_leaves_the_callers_transaction_usable() -> None:
    async with repo.transaction() as session:
        first = await jobs.enqueue(session, locked)
        with pytest.raises(procrastinate_exceptions.AlreadyEnqueued):
            await jobs.enqueue(session, locked)
        other = await jobs.enqueue(session, nothing, n=2)  # the transaction goes on, and commits

    assert first is not None
    assert other is not None
    assert [(await job_row(job_id)).status for job_id in (first, other)] == ["todo", "todo"]
