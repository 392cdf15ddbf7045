"""Jobs per second through one worker process for a no-op job, beside plain inserts (issue 3).

    .venv/bin/python -m bench.jobs_throughput [--jobs 10000] [--concurrency 10] [--enqueue defer]

1. A fresh database `my_app_bench` (never the dev data) on DATABASE_URL's server or the embedded
   one, migrated like the app's (so procrastinate's schema is ours), plus a plain table.
2. The app is started on it (Repo + job queue, no workers) with a no-op task `bench:noop` added.
3. A small warm-up of each measured operation, then deleted.
4. Timed: N single-row inserts into the plain table, then N enqueues of `bench:noop`, done the same
   way (same driver, pool and transaction pattern; `--enqueue` picks which way).
5. Timed: one procrastinate worker, in this process, from its start until all N jobs succeeded.

The figure is worker jobs/s ÷ plain inserts/s: how close running a job comes to the cheapest
write the same machine can do the same way. The enqueue rate is shown against the same baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, LiteralString

import orjson
import psycopg
import psycopg.sql
import psycopg_pool
from procrastinate.tasks import Task
from procrastinate.types import JSONDict
from psycopg.types.json import Jsonb
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import text

from bench.support import describe_database, free_port, scratch_database
from bench.tasks import NAMESPACE, TASK_NAME, blueprint, noop
from my_app import application, database, jobs, log, repo
from my_app.accounts import notifier
from my_app.config import Settings
from my_app_web import links

BENCH_DATABASE = "my_app_bench"
PROGRESS_STEP = 100
POLL_SECONDS = 0.25

# Piped output (make bench > file) gets room for the tables; a terminal keeps its own width.
console = Console(width=None if sys.stdout.isatty() else 120)


# A plain table shaped like a job row (queue, task, JSON args), without the queue's indexes and triggers.
CREATE_PLAIN_TABLE = """
CREATE TABLE bench_plain_rows (
    id bigserial PRIMARY KEY,
    queue_name varchar(128) NOT NULL,
    task_name varchar(128) NOT NULL,
    args jsonb NOT NULL DEFAULT '{}',
    inserted_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT_ONE: LiteralString = (
    "INSERT INTO bench_plain_rows (queue_name, task_name, args) VALUES (%s, %s, %s) RETURNING id"
)
INSERT_MANY: LiteralString = (
    "INSERT INTO bench_plain_rows (queue_name, task_name, args) SELECT %s, %s, unnest(%s::jsonb[]) RETURNING id"
)
INSERT_ONE_SQLALCHEMY = text(
    "INSERT INTO bench_plain_rows (queue_name, task_name, args)"
    " VALUES (:queue, :task, CAST(:args AS jsonb)) RETURNING id"
)
COUNT_SUCCEEDED: LiteralString = (
    "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND status = 'succeeded'::procrastinate_job_status"
)
COUNT_BY_STATUS: LiteralString = (
    "SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name = %s GROUP BY status ORDER BY status"
)

Tick = Callable[[int], None]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# --- The ways to enqueue, each with its plain-insert twin ---


@dataclass(frozen=True)
class Workload:
    """The job measured: its task, and the arguments of job number i."""

    task: Task[Any, Any, Any]
    args: Callable[[int], JSONDict]
    describe: str

    @property
    def queue(self) -> str:
        return self.task.queue

    @property
    def task_name(self) -> str:
        return self.task.name


@dataclass(frozen=True)
class Context:
    """What the measured operations run on: the job queue's pool, the batch size and the job."""

    pool: psycopg_pool.AsyncConnectionPool
    batch_size: int
    workload: Workload


Operation = Callable[[Context, int, Tick], Awaitable[None]]


async def enqueue_defer(ctx: Context, count: int, tick: Tick) -> None:
    task, args = ctx.workload.task, ctx.workload.args
    for i in range(count):
        await task.defer_async(**args(i))
        tick(1)


async def insert_like_defer(ctx: Context, count: int, tick: Tick) -> None:
    queue, task_name, args = ctx.workload.queue, ctx.workload.task_name, ctx.workload.args
    for i in range(count):
        async with ctx.pool.connection() as conn:  # as procrastinate's connector uses the pool
            cursor = await conn.execute(INSERT_ONE, (queue, task_name, Jsonb(args(i), dumps=_dumps)))
            await cursor.fetchone()
        tick(1)


async def enqueue_batch(ctx: Context, count: int, tick: Tick) -> None:
    for start in range(0, count, ctx.batch_size):
        size = min(ctx.batch_size, count - start)
        kwargs: list[JSONDict] = [ctx.workload.args(i) for i in range(start, start + size)]
        await ctx.workload.task.batch_defer_async(*kwargs)
        tick(size)


async def insert_like_batch(ctx: Context, count: int, tick: Tick) -> None:
    for start in range(0, count, ctx.batch_size):
        size = min(ctx.batch_size, count - start)
        args = [Jsonb(ctx.workload.args(i), dumps=_dumps) for i in range(start, start + size)]
        async with ctx.pool.connection() as conn:
            cursor = await conn.execute(INSERT_MANY, (ctx.workload.queue, ctx.workload.task_name, args))
            await cursor.fetchall()
        tick(size)


async def enqueue_repo(ctx: Context, count: int, tick: Tick) -> None:
    task, args = ctx.workload.task, ctx.workload.args
    for i in range(count):
        kwargs: dict[str, Any] = args(i)  # the task's arguments only (none of enqueue's own options)
        async with repo.transaction() as session:
            await jobs.enqueue(session, task, **kwargs)
        tick(1)


async def insert_like_repo(ctx: Context, count: int, tick: Tick) -> None:
    queue, task_name, args = ctx.workload.queue, ctx.workload.task_name, ctx.workload.args
    for i in range(count):
        async with repo.transaction() as session:
            await session.execute(INSERT_ONE_SQLALCHEMY, {"queue": queue, "task": task_name, "args": _dumps(args(i))})
        tick(1)


@dataclass(frozen=True)
class Method:
    enqueue_how: str
    insert_how: str
    enqueue: Operation
    insert: Operation


METHODS: dict[str, Method] = {
    "defer": Method(
        enqueue_how="task.defer_async(**args): 1 job per call, each call its own transaction on a "
        "connection from the job queue's psycopg pool (the statement inserts 1 job row; triggers add an event)",
        insert_how="INSERT … VALUES (…) RETURNING id: 1 row per statement, each its own transaction "
        "on a connection from the same psycopg pool",
        enqueue=enqueue_defer,
        insert=insert_like_defer,
    ),
    "batch": Method(
        enqueue_how="task.batch_defer_async(*B kwargs): B jobs per call, one transaction per call, "
        "on the job queue's psycopg pool",
        insert_how="INSERT … SELECT unnest(%s::jsonb[]) RETURNING id: B rows per statement, one "
        "transaction per statement, on the same psycopg pool",
        enqueue=enqueue_batch,
        insert=insert_like_batch,
    ),
    "repo": Method(
        enqueue_how="jobs.enqueue(session, task, **args) in its own repo.transaction() (SQLAlchemy session "
        "over psycopg, a savepoint, procrastinate's defer on the session's connection): how the app enqueues",
        insert_how="session.execute(INSERT … RETURNING id) in its own repo.transaction(): 1 row per transaction",
        enqueue=enqueue_repo,
        insert=insert_like_repo,
    ),
}


# --- Counting round trips ---

_PROCRASTINATE_FUNCTION = re.compile(r"\b(procrastinate_\w+)\s*\(")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", re.IGNORECASE)


def _statement_kind(query: object) -> str:
    """A short name for a statement: procrastinate's SQL function, or its first word and table."""
    if isinstance(query, psycopg.sql.Composable):
        return "(composed SQL)"
    sql = query.decode() if isinstance(query, bytes) else str(query)
    if not sql.strip():
        return '"" (the pool\'s connection check)'
    function = _PROCRASTINATE_FUNCTION.search(sql)
    if function:
        return function.group(1)
    first = sql.split(None, 1)[0].upper()
    table = _TABLE.search(sql)
    return f"{first} {table.group(1)}" if table else first


@contextlib.contextmanager
def counting_statements(ignore: psycopg.AsyncConnection[Any]) -> Iterator[collections.Counter[str]]:
    """Count every statement psycopg sends (each one round trip: queries, BEGIN, COMMIT), by kind.

    psycopg sends a cursor's queries through `AsyncCursor.execute` and its own BEGIN, COMMIT,
    ROLLBACK and SAVEPOINT through `_exec_command`; both are wrapped while the block runs. The
    bench's own connection (`ignore`: its progress counts) is left out.
    """
    counts: collections.Counter[str] = collections.Counter()
    execute = psycopg.AsyncCursor.execute
    exec_command = psycopg.AsyncConnection._exec_command

    async def counted_execute(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if self.connection is not ignore:
            counts[_statement_kind(query)] += 1
        return await execute(self, query, *args, **kwargs)

    def counted_command(self: psycopg.AsyncConnection[Any], command: Any, *args: Any, **kwargs: Any) -> Any:
        if self is not ignore:
            counts[_statement_kind(command)] += 1
        return exec_command(self, command, *args, **kwargs)

    setattr(psycopg.AsyncCursor, "execute", counted_execute)  # noqa: B010 - mypy refuses assigning a method
    setattr(psycopg.AsyncConnection, "_exec_command", counted_command)  # noqa: B010
    try:
        yield counts
    finally:
        setattr(psycopg.AsyncCursor, "execute", execute)  # noqa: B010
        setattr(psycopg.AsyncConnection, "_exec_command", exec_command)  # noqa: B010


# --- Running ---


@dataclass(frozen=True)
class Options:
    jobs: int
    concurrency: int
    enqueue: str
    batch_size: int
    pool_size: int | None
    warmup: int
    keep_db: bool
    database: str = BENCH_DATABASE
    count_round_trips: bool = False
    task: str = "noop"
    email_type: str = "confirmation"
    email_users: int = 1_000
    log: str = "app"


@dataclass(frozen=True)
class Phase:
    """One timed phase: wall-clock seconds, and CPU seconds this Python process spent in it."""

    seconds: float
    cpu_seconds: float


@dataclass(frozen=True)
class Results:
    server_version: str
    synchronous_commit: str
    fsync: str
    insert: Phase
    enqueue: Phase
    worker: Phase
    statuses: dict[str, int]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    workload: Workload
    statements: dict[str, int] | None = None  # sent while the worker ran, by kind (--count-round-trips)


@contextlib.contextmanager
def _clock() -> Iterator[Callable[[], Phase]]:
    wall, cpu = time.perf_counter(), time.process_time()
    ended: list[Phase] = []

    def phase() -> Phase:
        return ended[0]

    yield phase
    ended.append(Phase(seconds=time.perf_counter() - wall, cpu_seconds=time.process_time() - cpu))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        refresh_per_second=5,
    )


async def _timed(progress: Progress, label: str, count: int, operation: Operation, ctx: Context) -> Phase:
    task_id = progress.add_task(label, total=count)
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if k > 1 or done % PROGRESS_STEP == 0 or done == count:
            progress.update(task_id, completed=done)

    with _clock() as phase:
        await operation(ctx, count, tick)
    return phase()


async def _checkpoint(conn: psycopg.AsyncConnection[Any]) -> None:
    """Start each timed phase with no dirty buffers from the previous one (skipped without the privilege)."""
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        await conn.execute("CHECKPOINT")


async def _succeeded(conn: psycopg.AsyncConnection[Any], task_name: str) -> int:
    cursor = await conn.execute(COUNT_SUCCEEDED, (task_name,))
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _watch_worker(
    conn: psycopg.AsyncConnection[Any], task_name: str, progress: Progress, task_id: TaskID, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        progress.update(task_id, completed=await _succeeded(conn, task_name))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_SECONDS)


async def _run_worker(
    settings: Settings,
    conn: psycopg.AsyncConnection[Any],
    workload: Workload,
    progress: Progress,
    count: int,
    concurrency: int,
    *,
    count_statements: bool,
) -> tuple[Phase, dict[str, int] | None]:
    """Time one worker until the queue is empty; with `count_statements`, also what it sent, by kind."""
    task_id = progress.add_task("worker: jobs succeeded", total=count)
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_worker(conn, workload.task_name, progress, task_id, stop))
    statements: collections.Counter[str] | None = None
    try:
        with contextlib.ExitStack() as stack, _clock() as phase:
            if count_statements:
                statements = stack.enter_context(counting_statements(conn))
            # The worker JobWorkers runs for the queue; wait=False: it returns once the queue is empty
            # and its running jobs have finished.
            worker = jobs.new_worker(settings, workload.queue, concurrency, wait=False, listen_notify=False)
            await worker.run()  # type: ignore[no-untyped-call]
    finally:
        stop.set()
        await watcher
    progress.update(task_id, completed=await _succeeded(conn, workload.task_name))
    return phase(), dict(statements) if statements is not None else None


def _queue_pool(app: application.Application) -> psycopg_pool.AsyncConnectionPool:
    if app.job_queue is None:
        raise RuntimeError("the job queue did not start")
    return app.job_queue.pool


async def _show(conn: psycopg.AsyncConnection[Any], setting: str) -> str:
    cursor = await conn.execute("SELECT current_setting(%s)", (setting,))
    row = await cursor.fetchone()
    return str(row[0]) if row else "?"


def _workload(options: Options, user_ids: Sequence[str]) -> Workload:
    """The measured job: the no-op, or the accounts notifier's email to one of the seeded users."""
    if options.task == "noop":
        return Workload(task=noop, args=lambda i: {"n": i}, describe=f"{TASK_NAME}(n=i): async, does nothing")
    email_type = options.email_type
    return Workload(
        task=notifier.deliver_email,
        args=lambda i: {"type": email_type, "user_id": user_ids[i % len(user_ids)]},
        describe=f"{notifier.deliver_email.name}(type={email_type!r}, user_id=one of {len(user_ids):,} users): "
        "reads the user, builds the email (a new token for link emails), sends it over SMTP (plain TCP) "
        "to an aiosmtpd server in another process that accepts and drops it",
    )


async def run(options: Options, settings: Settings, bench_db: database.Database, user_ids: Sequence[str]) -> Results:
    if TASK_NAME not in jobs.procrastinate_app.tasks:
        jobs.procrastinate_app.add_tasks_from(blueprint, namespace=NAMESPACE)  # before the app opens the queue
    method = METHODS[options.enqueue]
    app = application.Application.build(settings, run_jobs=False, links=links.email_links(settings))
    await app.start()
    try:
        pool = _queue_pool(app)
        await pool.wait()
        workload = _workload(options, user_ids)  # once the app has registered the tasks (their names)
        ctx = Context(pool=pool, batch_size=options.batch_size, workload=workload)
        async with await psycopg.AsyncConnection.connect(bench_db.url, autocommit=True) as admin:
            server_version = await _show(admin, "server_version")
            synchronous_commit = await _show(admin, "synchronous_commit")
            fsync = await _show(admin, "fsync")

            warmup = min(options.warmup, options.jobs)
            if warmup:
                await method.insert(ctx, warmup, lambda _: None)
                await method.enqueue(ctx, warmup, lambda _: None)
                await admin.execute("TRUNCATE bench_plain_rows")
                await admin.execute("DELETE FROM procrastinate_jobs WHERE task_name = %s", (workload.task_name,))

            load_before = os.getloadavg()
            with _progress() as progress:
                await _checkpoint(admin)
                insert = await _timed(progress, "plain inserts", options.jobs, method.insert, ctx)
                await _checkpoint(admin)
                enqueue = await _timed(progress, "enqueue", options.jobs, method.enqueue, ctx)
                # No ANALYZE: the queue's table has the statistics of a fresh database (none). procrastinate's
                # fetch then still walks the queue's index for the first job (migration 20261202_0011)
                # instead of reading and sorting every waiting one: bench/README.md.
                await _checkpoint(admin)
                worker, statements = await _run_worker(
                    settings,
                    admin,
                    workload,
                    progress,
                    options.jobs,
                    options.concurrency,
                    count_statements=options.count_round_trips,
                )
            load_after = os.getloadavg()

            cursor = await admin.execute(COUNT_BY_STATUS, (workload.task_name,))
            statuses = {str(status): int(n) for status, n in await cursor.fetchall()}
    finally:
        await app.stop()
    return Results(
        server_version=server_version,
        synchronous_commit=synchronous_commit,
        fsync=fsync,
        insert=insert,
        enqueue=enqueue,
        worker=worker,
        statuses=statuses,
        load_before=load_before,
        load_after=load_after,
        workload=workload,
        statements=statements,
    )


# --- Set-up and report ---


def prepare_database(base: Settings, name: str = BENCH_DATABASE) -> database.Database:
    """`name` (`my_app_bench`), fresh and migrated, with the plain table the inserts are measured on."""
    bench_db = scratch_database(base, name)
    with psycopg.connect(bench_db.url, autocommit=True) as conn:
        conn.execute(CREATE_PLAIN_TABLE)
    return bench_db


def app_logging(settings: Settings) -> None:
    """Log as a worker process does (`myapp worker`: LOG_LEVEL=INFO, LOG_FORMAT=json, every line
    rendered by the app's writer thread), into /dev/null instead of stderr."""
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the writer thread writes to it until the process exits
    with contextlib.redirect_stderr(devnull):  # the app's handler writes to the stderr it finds
        log.configure(settings.model_copy(update={"log_level": "INFO", "log_format": "json"}))


def seed_users(bench_db: database.Database, count: int) -> list[str]:
    """`count` unconfirmed users (a confirmation email is due to each), for the email jobs; their ids."""
    with psycopg.connect(bench_db.url, autocommit=True) as conn:
        rows = conn.execute(
            "INSERT INTO users (id, email, name)"
            " SELECT gen_random_uuid(), 'bench-' || i || '@example.com', 'Bench user ' || i"
            " FROM generate_series(1, %s) AS i RETURNING id",
            (count,),
        ).fetchall()
    return [str(user_id) for (user_id,) in rows]


@contextlib.contextmanager
def smtp_sink() -> Iterator[int]:
    """An SMTP server that accepts every message and drops it (aiosmtpd's Sink), in a process of its
    own so that it does not share this process's CPU time; yields its port."""
    port = free_port()
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the SMTP server exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the SMTP server did not listen within 30 s")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def report(options: Options, settings: Settings, where: str, results: Results) -> bool:
    """Print the set-up, the results table and the figure; True when every job succeeded."""
    method = METHODS[options.enqueue]
    n = options.jobs
    pool_size = max(2, settings.job_pool_size)  # as jobs.open_queue sizes it
    batch = f"{options.batch_size:,} "

    setup = Table(title="Setup", show_header=False, title_justify="left")
    setup.add_column(style="bold", no_wrap=True)
    setup.add_column()
    setup.add_row("Python", f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    setup.add_row("PostgreSQL server", results.server_version)
    setup.add_row("database", where)
    setup.add_row("durability", f"synchronous_commit={results.synchronous_commit}, fsync={results.fsync}")
    libraries = ("procrastinate", "psycopg", "psycopg-pool", "sqlalchemy")
    setup.add_row("libraries", ", ".join(f"{name} {metadata.version(name)}" for name in libraries))
    setup.add_row("machine", f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    before, after = (" ".join(f"{x:.2f}" for x in load) for load in (results.load_before, results.load_after))
    setup.add_row("load average", f"{before} before the timed phases, {after} after (1, 5, 15 min)")
    setup.add_row("N (jobs, rows)", f"{n:,}")
    setup.add_row(
        "worker",
        f"1 procrastinate worker in this process, as JobWorkers runs it (jobs.new_worker): queue "
        f"{results.workload.queue!r}, concurrency {options.concurrency}, "
        f"job queue pool of at most {pool_size} connections (JOB_POOL_SIZE), listen_notify off, "
        "delete_jobs never, the app's record_outcome middleware",
    )
    setup.add_row("job", results.workload.describe)
    logging_how = {
        "app": "as a worker process logs: INFO, JSON lines rendered by the app's writer thread (to /dev/null)",
        "warnings": "warnings and errors only, on the console",
    }
    setup.add_row("logging", logging_how[options.log])
    setup.add_row(f"enqueue ({options.enqueue})", method.enqueue_how.replace("B ", batch))
    setup.add_row("plain insert, same way", method.insert_how.replace("B ", batch))
    setup.add_row("warm-up", f"{min(options.warmup, n):,} of each, then deleted; CHECKPOINT before each timed phase")
    console.print(setup)
    if results.load_before[0] > 1.0:
        console.print(
            f"[yellow]The machine was busy before the timed phases (load {results.load_before[0]:.2f}): "
            "other processes share the CPUs and the server, so the rates are lower than on an idle machine.[/yellow]"
        )

    insert_rate = _rate(n, results.insert.seconds)
    enqueue_rate = _rate(n, results.enqueue.seconds)
    worker_rate = _rate(n, results.worker.seconds)
    table = Table(title="Results", title_justify="left")
    table.add_column("measurement")
    table.add_column("N", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("Python CPU s", justify="right")
    table.add_column("per second", justify="right")
    table.add_column("÷ plain inserts/s", justify="right")
    rows = (
        ("plain inserts", results.insert, insert_rate, "1.00"),
        ("enqueue", results.enqueue, enqueue_rate, f"{enqueue_rate / insert_rate:.2f}"),
        (
            f"worker: {options.task} jobs run",
            results.worker,
            worker_rate,
            f"[bold]{worker_rate / insert_rate:.2f}[/bold]",
        ),
    )
    for label, phase, rate, ratio in rows:
        table.add_row(label, f"{n:,}", f"{phase.seconds:.2f}", f"{phase.cpu_seconds:.2f}", f"{rate:,.0f}", ratio)
    console.print(table)

    statuses = ", ".join(f"{status} {count:,}" for status, count in results.statuses.items()) or "none"
    all_succeeded = results.statuses.get("succeeded", 0) == n and sum(results.statuses.values()) == n
    marker = "" if all_succeeded else " [red](expected all succeeded)[/red]"
    console.print(f"jobs by status after the run: {statuses}{marker}")
    console.print(
        f"[bold]The figure: {worker_rate:,.0f} jobs/s ÷ {insert_rate:,.0f} plain inserts/s = "
        f"{worker_rate / insert_rate:.2f}[/bold] (one worker process, concurrency {options.concurrency}, N={n:,})"
    )
    console.print(
        f"Enqueue: {enqueue_rate:,.0f} jobs/s ÷ {insert_rate:,.0f} plain inserts/s = {enqueue_rate / insert_rate:.2f}"
    )
    if results.statements is not None:
        _report_statements(results.statements, n)
    return all_succeeded


def _report_statements(statements: dict[str, int], jobs_run: int) -> None:
    table = Table(title="Statements sent while the worker ran (each one round trip)", title_justify="left")
    table.add_column("statement")
    table.add_column("count", justify="right")
    table.add_column("per job", justify="right")
    for kind, count in sorted(statements.items(), key=lambda item: -item[1]):
        table.add_row(kind, f"{count:,}", f"{count / jobs_run:.2f}")
    total = sum(statements.values())
    table.add_row("[bold]all[/bold]", f"{total:,}", f"[bold]{total / jobs_run:.2f}[/bold]")
    console.print(table)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.jobs_throughput",
        description="Jobs/s through one worker for a no-op job, beside plain inserts done the same way.",
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="N: jobs to enqueue and run, rows to insert")
    parser.add_argument("--concurrency", type=int, default=10, help="the worker's concurrency (default 10)")
    parser.add_argument(
        "--enqueue",
        choices=sorted(METHODS),
        default="defer",
        help="defer: task.defer_async per job (default); batch: batch_defer_async per --batch-size; "
        "repo: jobs.enqueue in a repo.transaction() per job. The plain inserts follow the same pattern.",
    )
    parser.add_argument("--batch-size", type=int, default=1_000, help="jobs/rows per call with --enqueue batch")
    parser.add_argument("--pool-size", type=int, default=None, help="JOB_POOL_SIZE for the run (default: settings)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed inserts and enqueues first (default 200)")
    parser.add_argument(
        "--database",
        default=BENCH_DATABASE,
        help=f"the scratch database's name (default {BENCH_DATABASE}): dropped first and at the end",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the scratch database in place afterwards")
    parser.add_argument(
        "--task",
        choices=("noop", "email"),
        default="noop",
        help="noop (default): bench:noop does nothing; email: the accounts notifier's email:deliver_email, "
        "delivered over SMTP to a local aiosmtpd server that drops it",
    )
    parser.add_argument(
        "--email-type",
        default="confirmation",
        help="with --task email: the email sent (default confirmation: a new token, then the message)",
    )
    parser.add_argument(
        "--log",
        choices=("app", "warnings"),
        default="app",
        help="app (default): the worker process's logging (INFO, JSON lines, to /dev/null here); "
        "warnings: only warnings and errors, on the console (what this bench did before)",
    )
    parser.add_argument(
        "--email-users", type=int, default=1_000, help="with --task email: users the emails go to (default 1,000)"
    )
    parser.add_argument(
        "--count-round-trips",
        action="store_true",
        help="also count the statements sent to PostgreSQL per job while the worker runs (slows it a little)",
    )
    args = parser.parse_args(argv)
    options = Options(
        jobs=args.jobs,
        concurrency=args.concurrency,
        enqueue=args.enqueue,
        batch_size=args.batch_size,
        pool_size=args.pool_size,
        warmup=args.warmup,
        keep_db=args.keep_db,
        database=args.database,
        count_round_trips=args.count_round_trips,
        task=args.task,
        email_type=args.email_type,
        email_users=args.email_users,
        log=args.log,
    )
    if min(options.jobs, options.concurrency, options.batch_size, options.email_users) < 1:
        parser.error("--jobs, --concurrency, --batch-size and --email-users must be at least 1")
    if options.warmup < 0 or (options.pool_size is not None and options.pool_size < 2):
        parser.error("--warmup must be at least 0 and --pool-size at least 2")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, handlers=[RichHandler(console=console, show_path=False)], format="%(message)s"
    )
    base = Settings(env="dev")  # DATABASE_URL (environment or .env), else the embedded server
    with console.status(f"preparing database {options.database}…"):
        bench_db = prepare_database(base, options.database)
    where = describe_database(bench_db, base)
    overrides: dict[str, Any] = {"env": "dev", "database_url": bench_db.url, "jobs_in_server": False}
    if options.pool_size is not None:
        overrides["job_pool_size"] = options.pool_size
    console.print(
        f"benchmarking {options.task} jobs on {where}: N={options.jobs:,}, concurrency {options.concurrency}, "
        f"{options.enqueue}"
    )
    try:
        with contextlib.ExitStack() as stack:
            user_ids: list[str] = []
            if options.task == "email":
                user_ids = seed_users(bench_db, options.email_users)
                port = stack.enter_context(smtp_sink())
                overrides |= {"mailer_adapter": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port}
                overrides |= {"smtp_security": "none"}
            settings = Settings(**overrides)
            if options.log == "app":
                app_logging(settings)
            results = asyncio.run(run(options, settings, bench_db, user_ids))
    finally:
        if not options.keep_db:
            database.drop(bench_db)
    return 0 if report(options, settings, where, results) else 1


if __name__ == "__main__":
    sys.exit(main())
