"""The job queue (Oban's role), on procrastinate in the app's own PostgreSQL database.

- `enqueue(session, task, ...)` inserts a job inside the caller's transaction: the job exists if
  and only if that transaction commits. `unique_for` skips a job equal to one enqueued recently.
- Tasks live in blueprints that the application hands to `open_queue` (with the periodic tasks);
  this module imports no worker and no context. Tasks raise `JobCancelled` when the job can never
  succeed (its record is gone) and `JobDiscarded` when its arguments are invalid; neither retries.
- `Backoff` retries other failures with exponential backoff and jitter, up to `max_attempts` runs;
  each failed attempt's reason (and time) is kept in `job_errors` (`job_errors(id)`, `myapp jobs show`).
  `record_outcome` also counts each attempt by outcome and times it (`my_app.metrics`).
- `JobWorkers` runs one procrastinate worker per configured queue, with that queue's concurrency.
- Operators (`myapp jobs`, the ops dashboard, /metrics): `list_jobs` (`retrying=True`: the jobs
  waiting for a retry), `get_job`, `job_errors` (`job_errors_for`: many jobs' errors in one query),
  `count_jobs`, `queue_stats`, `retry_job`, `cancel_job`, and `pause_queue` / `resume_queue`, kept
  in `job_queue_pauses` so a pause holds on every node and across restarts.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import procrastinate
import psycopg
import psycopg.types.json
import psycopg_pool
from procrastinate import Blueprint
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.job_context import AbortReason, JobContext
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision, RetryStrategy
from procrastinate.tasks import Task
from procrastinate.worker import Worker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from my_app import backoff, metrics, pubsub, repo
from my_app.config import Settings, get_settings
from my_app.errors import NotFoundError, ValidationError
from my_app.running import Slot

logger = logging.getLogger(__name__)
_MAX_ERROR_LENGTH = 2_000


class JobCancelled(Exception):  # noqa: N818 - named after the outcome, like Oban's {:cancel, reason}
    """The job can never succeed (e.g. its user was deleted): stop now, never retry."""


class JobDiscarded(Exception):  # noqa: N818 - Oban's {:discard, reason}
    """The job's arguments make no sense (e.g. an unknown email type): fail for good, never retry."""


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _new_connector(*, json_set_per_connection: bool = False) -> procrastinate.PsycopgConnector:
    # procrastinate installs json_dumps and json_loads on every cursor it opens when it is given
    # them: two copies of the connection's adapters and two dumper/loader classes built per
    # statement (6% of a no-op job's CPU in the worker, and of each enqueue). The job queue's
    # connections get orjson's once, when the pool opens them (`_configure`); a job enqueued in a
    # caller's transaction goes through the Repo's connection, whose adapters SQLAlchemy already
    # set to the same orjson encoder (`repo._json_serializer`, the engine's `json_serializer`).
    if json_set_per_connection:
        return procrastinate.PsycopgConnector()
    return procrastinate.PsycopgConnector(json_dumps=_json_dumps, json_loads=orjson.loads)


# The process's procrastinate App: its task registry (every task links back to it, `task.blueprint`,
# and defers through its job manager, periodic tasks included). Its connector is the running queue's:
# each JobQueue has a connector of its own and installs it with procrastinate's `replace_connector`
# while the Application holds it in `running` (see `JobQueue.installed`).
procrastinate_app = procrastinate.App(connector=_new_connector())


@dataclass
class JobQueue:
    """procrastinate open on a pool of its own: one per running Application.

    Examples:
        queue = await jobs.open_queue(settings, url, blueprints={"email": notifier.blueprint})
        with queue.installed():          # what the Application does while it runs
            await jobs.enqueue(...)      # workers, ping(), retry_job() ... use this queue
        await queue.close()
    """

    settings: Settings
    pool: psycopg_pool.AsyncConnectionPool
    connector: procrastinate.PsycopgConnector

    @contextmanager
    def installed(self) -> Iterator[JobQueue]:
        """This queue is `running`, and procrastinate's App uses its connector, until the block ends."""
        with running.holding(self), procrastinate_app.replace_connector(self.connector):
            yield self

    async def close(self) -> None:
        await self.connector.close_async()  # leaves a pool it did not create open
        await self.pool.close()


# The running app's queue (None before any app starts), put here by the Application (`my_app.running`).
running: Slot[JobQueue | None] = Slot("job queue", None)


def settings() -> Settings:
    """The settings the running queue was started with (the process-wide ones before that)."""
    queue = running.value
    return queue.settings if queue is not None else get_settings()


def parse_queues(spec: str) -> dict[str, int]:
    """`"default:10,emails:5"` → `{"default": 10, "emails": 5}` (concurrency 1 when omitted)."""
    queues: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, concurrency = item.partition(":")
        if not name or (concurrency and not concurrency.isdigit()) or concurrency == "0":
            raise ValueError(f"invalid queue {item!r}: expected name or name:concurrency (concurrency ≥ 1)")
        queues[name] = int(concurrency or 1)
    return queues


# --- Retries ---


def backoff_seconds(attempt: int, *, base: float, maximum: float) -> float:
    """Wait before retry number `attempt` (1, 2, ...): base·2^(attempt-1), capped, plus ≤ 10% jitter.

    The jitter spreads retries of jobs that failed together (a mail server outage) over time.
    """
    return backoff.backoff_seconds(attempt, base=base, maximum=maximum, spread=(1.0, 1.1))


@dataclass(frozen=True)
class Backoff(BaseRetryStrategy):
    """Retry any failure but cancellation and discard, up to `max_attempts` runs in all (Oban's meaning)."""

    max_attempts: int

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, JobCancelled | JobDiscarded):
            return None
        runs_so_far = job.attempts + 1  # procrastinate counts attempts before this one
        if runs_so_far >= self.max_attempts:
            return None
        config = settings()
        delay = backoff_seconds(runs_so_far, base=config.job_backoff_base, maximum=config.job_backoff_max)
        # retry_at, not retry_in: procrastinate's retry_in takes whole seconds and would drop the jitter.
        return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=delay))


# --- Enqueueing ---


async def enqueue(
    session: AsyncSession,
    task: Task[Any, Any, Any],
    *,
    schedule_in: timedelta | None = None,
    schedule_at: datetime | None = None,
    unique_for: timedelta | None = None,
    **args: Any,
) -> int | None:
    """Insert a job in `session`'s transaction; returns its id, or None when `unique_for` skipped it.

    Examples:
        async with repo.transaction() as session:
            session.add(user)
            await jobs.enqueue(session, notifier.deliver_email, type="welcome", user_id=str(user.id))
        # committed: the job exists; an exception in the block: neither the user nor the job does

        await jobs.enqueue(session, task, unique_for=timedelta(seconds=60), **args)  # None if a twin is recent

    A task with a queueing lock (or `unique_for`) enqueues in a savepoint: procrastinate's
    AlreadyEnqueued leaves the caller's transaction usable. Otherwise the job's insert is one more
    statement of the caller's transaction, and a failed one aborts it, as any failed statement does.
    """
    connection = await repo.driver_connection(session)
    if schedule_in is not None:
        schedule_at = datetime.now(UTC) + schedule_in
    if unique_for is None and task.queueing_lock is None:
        # Nothing the caller could catch and carry on from: no savepoint, whose SAVEPOINT and RELEASE
        # would be two more round trips than the insert itself. The caller's pending rows go first.
        await session.flush()
        return await _defer(task, connection, schedule_at, args)
    # A savepoint: a task's queueing lock refusing the job (procrastinate's AlreadyEnqueued), or the
    # uniqueness check failing, leaves the caller's transaction usable.
    async with session.begin_nested():
        # SQLAlchemy sends the SAVEPOINT with the block's first statement through the session, and
        # procrastinate's insert goes to the driver's connection directly: send it now, or a refused
        # job is outside the savepoint and aborts the caller's transaction.
        await session.connection()
        if unique_for is not None and await _recently_enqueued(session, task.name, args, unique_for):
            logger.info("skipped %s %s: an equal job was enqueued in the last %s", task.name, args, unique_for)
            return None
        return await _defer(task, connection, schedule_at, args)


async def _defer(task: Task[Any, Any, Any], connection: Any, schedule_at: datetime | None, args: dict[str, Any]) -> int:
    job_id: int = await task.configure(connection=connection, schedule_at=schedule_at).defer_async(**args)
    return job_id


async def _recently_enqueued(session: AsyncSession, task_name: str, args: dict[str, Any], period: timedelta) -> bool:
    # The advisory lock serialises enqueuers of the same job until they commit, so two
    # concurrent requests cannot both see "no recent twin" and both insert.
    key = f"{task_name}:{_json_dumps(args)}"
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
    found = await session.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id"
            " WHERE j.task_name = :task AND j.args = CAST(:args AS jsonb) AND e.type = 'deferred'"
            " AND e.at > now() - make_interval(secs => :seconds))"
        ),
        {"task": task_name, "args": _json_dumps(args), "seconds": period.total_seconds()},
    )
    return bool(found)


# --- Middleware: outcomes and error records ---


async def record_outcome(call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Worker) -> Any:
    """Keep each failed attempt's reason; turn `JobCancelled` into procrastinate's `aborted` status;
    count the attempt (`jobs_finished_total{queue,task,outcome}`) and time it (`job_duration_seconds`).

    Outcomes: succeeded; cancelled (`JobCancelled`, or an abort asked with `cancel_job`); discarded
    (`JobDiscarded`); failed (any other error, and a run cut short by a shutdown: it runs again).
    """
    job = context.job
    began = time.perf_counter()
    outcome = "failed"
    try:
        result = await call_next()
        outcome = "succeeded"
        return result
    except JobCancelled as exc:
        outcome = "cancelled"
        logger.warning("job %s cancelled: %s", job.call_string, exc)
        await _record_error(worker, job, f"cancelled: {exc}")
        raise procrastinate_exceptions.JobAborted(str(exc)) from exc
    except JobDiscarded as exc:
        outcome = "discarded"
        logger.error("job %s discarded: %s", job.call_string, exc)
        await _record_error(worker, job, f"discarded: {exc}")
        raise
    except Exception as exc:
        if isinstance(exc, procrastinate_exceptions.JobAborted) and _abort_requested(context):
            outcome = "cancelled"
        await _record_error(worker, job, f"{type(exc).__name__}: {exc}")
        raise
    except asyncio.CancelledError:  # procrastinate cancels an async job to abort it
        if _abort_requested(context):
            outcome = "cancelled"
        raise
    finally:
        queue, task = job.queue, job.task_name
        metrics.JOB_DURATION.labels(queue, task).observe(time.perf_counter() - began)
        metrics.JOBS_FINISHED.labels(queue, task, outcome).inc()


def _abort_requested(context: JobContext) -> bool:
    """An operator asked to stop the job (`cancel_job`), as opposed to a worker shutting down."""
    return context.abort_reason() == AbortReason.USER_REQUEST


async def _record_error(worker: Worker, job: Job, error: str) -> None:
    try:
        # The worker's app: its connector is the database the job came from.
        await worker.app.connector.execute_query_async(
            "INSERT INTO job_errors (job_id, attempt, error) VALUES (%(job_id)s, %(attempt)s, %(error)s)",
            job_id=job.id,
            attempt=job.attempts + 1,
            error=error[:_MAX_ERROR_LENGTH],
        )
    except Exception:
        # Losing the note must not lose the job: procrastinate still records the failure.
        logger.exception("could not record the error of job %s", job.id)


# --- Lifecycle ---


@dataclass(frozen=True)
class Periodic:
    """A task run on a cron schedule (an entry of Oban's Cron plugin).

    Examples:
        Periodic(maintenance.prune_jobs, cron="0 3 * * *")
    """

    task: Task[Any, Any, Any]
    cron: str


async def open_queue(
    settings_: Settings,
    conninfo: str,
    *,
    blueprints: Mapping[str, Blueprint] | None = None,
    periodic: Sequence[Periodic] = (),
) -> JobQueue:
    """Open procrastinate on its own small pool (workers hold connections while they LISTEN).

    The queue knows no task of its own: the application hands it the blueprints (by namespace)
    and the periodic tasks at start, so this module imports no worker and no context.

    Examples:
        queue = await jobs.open_queue(settings, url, blueprints={"email": notifier.blueprint},
                                      periodic=maintenance.periodic(settings))
    """
    register_tasks(blueprints or {}, periodic)
    pool = psycopg_pool.AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max(2, settings_.job_pool_size),
        open=False,
        configure=_configure,
        check=_LiveConnections().check,
        timeout=settings_.database_connect_timeout,
        kwargs={"connect_timeout": max(1, round(settings_.database_connect_timeout))},
    )
    # No waiting: like the Repo, the app starts while PostgreSQL is down and /ready reports it.
    await pool.open(wait=False)
    # A connector of its own: procrastinate's keeps a reference to an external pool after closing.
    connector = _new_connector(json_set_per_connection=True)
    await connector.open_async(pool)
    return JobQueue(settings_, pool, connector)


async def _configure(connection: psycopg.AsyncConnection[Any]) -> None:
    """Each new connection of the job queue's pool: autocommit, and orjson for the JSON it writes and reads.

    Each of procrastinate's statements is a transaction by itself (a call to one of its SQL
    functions: fetch a job, finish it, defer one, a heartbeat...). In autocommit they go alone;
    otherwise psycopg wraps each in BEGIN and COMMIT, two more round trips every time."""
    await connection.set_autocommit(True)
    psycopg.types.json.set_json_dumps(_json_dumps, connection)
    psycopg.types.json.set_json_loads(orjson.loads, connection)


class _LiveConnections:
    """The job queue pool's check of a connection it is about to lend (psycopg_pool's `check`).

    The pool's own check sends an empty query every time: one more round trip for each of the
    worker's statements, two per job. A connection lent less than `repo.PING_AFTER_IDLE` seconds ago
    (the bound of the Repo's pool, which pings its idle connections the same way), and
    returned since in a good state (the pool discards a broken one), is lent again without it; one
    that sat idle longer (a database restart, a proxy's idle timeout may have closed it) is checked
    as before. A connection that died within that second fails its statement as one dying during
    the statement would: the fetch ends the worker (its supervisor restarts it), a job's end that
    cannot be written leaves it to the stalled-job rescue, as a crash would.
    """

    def __init__(self) -> None:
        self._lent_at: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

    async def check(self, connection: psycopg.AsyncConnection[Any]) -> None:
        now = time.monotonic()
        last = self._lent_at.get(connection)
        if last is None or now - last >= repo.PING_AFTER_IDLE or connection.broken:
            await psycopg_pool.AsyncConnectionPool.check_connection(connection)  # raises: the pool replaces it
        self._lent_at[connection] = now


_registered_namespaces: set[str] = set()
_registered_periodic: set[str] = set()


def register_tasks(blueprints: Mapping[str, Blueprint], periodic: Sequence[Periodic] = ()) -> None:
    """Add each blueprint's tasks under its namespace (`email:deliver_email`), then the periodic ones.

    Registering the same namespace or periodic task again (a second app in the same process) is a no-op.
    """
    for namespace, blueprint in blueprints.items():
        if namespace not in _registered_namespaces:
            procrastinate_app.add_tasks_from(blueprint, namespace=namespace)
            _registered_namespaces.add(namespace)
    for entry in periodic:
        if entry.task.name not in _registered_periodic:
            procrastinate_app.periodic(cron=entry.cron)(entry.task)
            _registered_periodic.add(entry.task.name)


# --- Pausing queues (Oban's pause_queue / resume_queue) ---

# Each pause and resume is announced on this PubSub topic (payload {"queue": name}); every node's
# JobWorkers then re-reads job_queue_pauses. The table is the truth, the message only says "look now".
QUEUES_TOPIC = "jobs:queues"
# Seconds between two reads of job_queue_pauses by each node's JobWorkers, whatever it heard: the
# safety net for a lost message (the PubSub listener reconnecting, a broadcast that failed).
PAUSE_RECHECK = 5.0


async def paused_queues() -> set[str]:
    """The queues paused now (on every node).

    Examples:
        await jobs.paused_queues()   # {"emails"}
    """
    async with repo.transaction() as session:
        return set(await session.scalars(text("SELECT queue FROM job_queue_pauses")))


async def pause_queue(queue: str) -> None:
    """Stop fetching jobs of `queue` on every node (within about a second), until `resume_queue`.

    Running jobs finish; jobs enqueued meanwhile wait as `todo`. The pause is kept in the database:
    it holds across restarts, and a node that starts later does not run the queue either. Pausing
    a paused queue changes nothing. Unlike Oban, which accepts any name and pauses nothing, an
    unknown queue (not in JOB_QUEUES, used by no task and holding no job) is a ValidationError, so
    a typo never looks like a pause.

    Examples:
        await jobs.pause_queue("emails")
        await jobs.pause_queue("emials")   # ValidationError: unknown queue 'emials'; known queues: default, emails
    """
    await _check_known(queue)
    async with repo.transaction() as session:
        await session.execute(
            text("INSERT INTO job_queue_pauses (queue) VALUES (:queue) ON CONFLICT (queue) DO NOTHING"),
            {"queue": queue},
        )
    logger.info("queue %s paused", queue)
    await pubsub.announce(QUEUES_TOPIC, "paused", {"queue": queue})


async def resume_queue(queue: str) -> None:
    """Fetch jobs of `queue` again on every node; resuming a queue that is not paused changes nothing.

    Examples:
        await jobs.resume_queue("emails")
        await jobs.resume_queue("emials")  # ValidationError: unknown queue 'emials'; ...
    """
    async with repo.transaction() as session:
        resumed = await session.scalar(
            text("DELETE FROM job_queue_pauses WHERE queue = :queue RETURNING queue"), {"queue": queue}
        )
    if resumed is None:
        await _check_known(queue)
        return
    logger.info("queue %s resumed", queue)
    await pubsub.announce(QUEUES_TOPIC, "resumed", {"queue": queue})


_BUILTIN = ("builtin:", "procrastinate.")


def _named_queues() -> set[str]:
    """The queues this process knows by name: configured (JOB_QUEUES) and those its tasks use."""
    # procrastinate's own tasks (queue `builtin`) are not ours: no worker of the app runs their queue.
    used_by_tasks = {task.queue for task in procrastinate_app.tasks.values() if not task.name.startswith(_BUILTIN)}
    return set(parse_queues(settings().job_queues)) | used_by_tasks


async def _check_known(queue: str) -> None:
    named = _named_queues()
    if queue in named:
        return
    async with repo.transaction() as session:
        used = await session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE queue_name = :queue)"
                " OR EXISTS (SELECT 1 FROM job_queue_pauses WHERE queue = :queue)"
            ),
            {"queue": queue},
        )
    if not used:
        known = ", ".join(sorted(named))
        raise ValidationError({"queue": [f"unknown queue {queue!r}; known queues: {known}"]})


# --- Workers, supervised ---

# A worker that stopped is started again after backoff_seconds(n, RESTART_BASE, RESTART_MAX), n counting
# the restarts in a row; one that ran RESTART_RESET seconds before stopping starts the count again.
RESTART_BASE = 0.2
RESTART_MAX = 30.0
RESTART_RESET = 30.0


def restart_delay(restarts: int) -> float:
    """Seconds before restart number `restarts` (1, 2, ...) of a worker: 0.1-0.2 s, doubling, ≤ 30 s."""
    return backoff.backoff_seconds(restarts, base=RESTART_BASE, maximum=RESTART_MAX, spread=(0.5, 1.0))


def new_worker(settings_: Settings, queue: str, concurrency: int, **options: Any) -> Worker:
    """A procrastinate worker for `queue` as JobWorkers runs it (`options`: more of Worker's arguments).

    Examples:
        worker = jobs.new_worker(settings, "default", 10)
        await worker.run()                                       # until worker.stop()
        await jobs.new_worker(settings, "default", 10, wait=False).run()   # until the queue is empty
    """
    name = f"{queue}-worker"
    # procrastinate logs "Starting job" on the worker's own logger, the outcome on its parent's.
    for logger_name in (f"{_WORKER_LOGGER}.{name}", _WORKER_LOGGER):
        logging.getLogger(logger_name).addFilter(_per_job_lines_at_debug)  # once: addFilter skips a repeat
    return Worker(
        app=procrastinate_app,
        queues=[queue],
        name=name,
        concurrency=concurrency,
        install_signal_handlers=False,
        shutdown_graceful_timeout=settings_.job_shutdown_timeout,
        stalled_worker_timeout=settings_.job_stalled_timeout,
        update_heartbeat_interval=max(1.0, settings_.job_stalled_timeout / 6),
        delete_jobs="never",
        worker_middleware=[record_outcome],
        **options,
    )


_WORKER_LOGGER = "procrastinate.worker"
# procrastinate's lines for every job that starts, and every one that succeeds (its `action` field).
_PER_JOB_ACTIONS = frozenset({"start_job", "job_success"})


class _PerJobLinesAtDebug(logging.Filter):
    """procrastinate logs two INFO lines for every job: "Starting job ..." and "Job ... ended with
    status: Success". At a thousand jobs a second, rendering them (JSON, by the log writer) costs the
    worker process more than running the jobs. Here they are DEBUG lines, shown with LOG_LEVEL=DEBUG:
    each success is counted and timed in /metrics (`jobs_finished_total`, `job_duration_seconds`),
    and every failure, retry and abort is still logged as procrastinate logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "action", None) not in _PER_JOB_ACTIONS:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_per_job_lines_at_debug = _PerJobLinesAtDebug()


@dataclass
class _PauseState:
    """Whether one queue is paused on this node, as two events so either change can be awaited."""

    paused: asyncio.Event = field(default_factory=asyncio.Event)
    resumed: asyncio.Event = field(default_factory=asyncio.Event)

    def set(self, paused: bool) -> None:
        (self.paused if paused else self.resumed).set()
        (self.resumed if paused else self.paused).clear()


@dataclass
class JobWorkers:
    """One procrastinate worker per queue, each with the queue's concurrency (Oban's queues), supervised.

    procrastinate's worker stops for good when one of its side tasks fails: the LISTEN connection
    it cannot re-open while PostgreSQL restarts (`listener error: ConnectorException`), or a heartbeat
    that cannot be written. It also ends with the error when fetching a job fails. Each queue's
    worker therefore runs under a supervisor that, like an OTP supervisor, starts it again with
    backoff whenever it ends without being asked to, and logs one line per restart. `running()`
    is False while any queue's worker is down (`/ready` reports it).

    Paused queues (`pause_queue`): the supervisor stops the queue's worker (no more fetching; running
    jobs finish, however long they take) and starts a new one when the queue is resumed. It learns of
    pauses from job_queue_pauses: read before the first worker starts, again on each message on
    QUEUES_TOPIC (from any node), and every PAUSE_RECHECK seconds. A paused queue is not down.

    Examples:
        workers = JobWorkers(settings, queues={"default": 10, "emails": 5})
        await workers.start()      # returns at once; the workers run in the background
        workers.running()          # True once every worker not paused has registered
        workers.paused()           # ["emails"] after `await jobs.pause_queue("emails")` (any node)
        await workers.stop()       # lets running jobs finish (JOB_SHUTDOWN_TIMEOUT)
    """

    settings: Settings
    queues: dict[str, int] | None = None
    name: str = "job workers"
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _workers: dict[str, Worker | None] = field(default_factory=dict)
    _pauses: dict[str, _PauseState] = field(default_factory=dict)
    _pauses_read: asyncio.Event = field(default_factory=asyncio.Event)
    restarts: int = 0  # restarts so far, all queues together

    async def start(self) -> None:
        queues = self.queues or parse_queues(self.settings.job_queues)
        self._pauses_read.clear()
        for queue, concurrency in queues.items():
            self._workers[queue] = None
            self._pauses[queue] = _PauseState()
            self._tasks.append(asyncio.create_task(self._supervise(queue, concurrency), name=f"jobs:{queue}"))
        self._tasks.append(asyncio.create_task(self._watch_pauses(), name="jobs:pauses"))
        logger.info("job workers started: %s", ", ".join(f"{q}×{c}" for q, c in queues.items()))

    def _new_worker(self, queue: str, concurrency: int) -> Worker:
        return new_worker(self.settings, queue, concurrency)

    async def _supervise(self, queue: str, concurrency: int) -> None:
        loop = asyncio.get_running_loop()
        in_a_row = 0
        state = self._pauses[queue]
        await self._pauses_read.wait()  # a queue paused before this node started never fetches
        while True:
            if state.paused.is_set():
                logger.info("queue %s is paused: its worker waits to be resumed", queue)
                await state.resumed.wait()
                logger.info("queue %s resumed: its worker starts", queue)
            worker = self._new_worker(queue, concurrency)
            self._workers[queue] = worker
            began = loop.time()
            try:
                if await self._run_until_paused(queue, worker):
                    in_a_row = 0
                    continue
                reason = "it stopped"  # a side task (listener, heartbeat) failed: procrastinate gave up
            except Exception as exc:  # fetching or registering failed: the database is gone
                reason = f"{type(exc).__name__}: {_cause(exc)}"
            finally:
                # Cancelled (stop()) included: a worker that is not running is not reported as running.
                self._workers[queue] = None
            in_a_row = 1 if loop.time() - began >= RESTART_RESET else in_a_row + 1
            delay = restart_delay(in_a_row)
            self.restarts += 1
            logger.warning(
                "job worker for queue %s ended (%s); restarting in %.2fs (restart %d in a row)",
                queue,
                reason,
                delay,
                in_a_row,
            )
            await asyncio.sleep(delay)

    async def _run_until_paused(self, queue: str, worker: Worker) -> bool:
        """Run `worker` until it ends on its own (False; raises what ended it) or the queue is paused
        (True, once it stopped fetching and its running jobs finished)."""
        run = asyncio.create_task(worker.run(), name=f"jobs:{queue}:worker")  # type: ignore[no-untyped-call]
        paused = asyncio.create_task(self._pauses[queue].paused.wait())
        draining = False
        try:
            await asyncio.wait({run, paused}, return_when=asyncio.FIRST_COMPLETED)
            if run.done():
                await run
                return False
            logger.info("queue %s paused: its worker stops fetching and lets its running jobs finish", queue)
            draining = True
            worker.shutdown_graceful_timeout = None  # a pause waits for running jobs, however long they take
            worker.stop()  # type: ignore[no-untyped-call]
            await asyncio.shield(run)
            return True
        except asyncio.CancelledError:  # stop(): the app is stopping
            await self._stop_worker(worker, run, draining=draining)
            raise
        finally:
            paused.cancel()

    async def _stop_worker(self, worker: Worker, run: asyncio.Task[None], *, draining: bool) -> None:
        """End the worker as a stop does: running jobs get JOB_SHUTDOWN_TIMEOUT, then are aborted (retried later)."""
        try:
            if draining:  # after a pause, procrastinate waits without a bound: bound it like a stop
                await asyncio.wait({run}, timeout=self.settings.job_shutdown_timeout)
                if not run.done():
                    # procrastinate's own step after its graceful wait, which it would never reach.
                    await worker._abort_running_jobs()  # type: ignore[no-untyped-call]
            else:
                run.cancel()  # procrastinate's graceful shutdown, with JOB_SHUTDOWN_TIMEOUT
            await asyncio.gather(run, return_exceptions=True)
        except Exception:
            logger.exception("%s did not stop cleanly", run.get_name())

    async def _watch_pauses(self) -> None:
        """Keep each queue's pause state equal to job_queue_pauses: read it now, on every message on
        QUEUES_TOPIC (a pause or resume on any node, or a Gap: messages may be lost) and every
        PAUSE_RECHECK seconds."""
        wake = asyncio.Event()
        subscription = pubsub.subscribe(QUEUES_TOPIC, on_message=lambda _item: wake.set())
        try:
            while True:
                wake.clear()
                await self._read_pauses()
                self._pauses_read.set()
                with suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), PAUSE_RECHECK)
        finally:
            pubsub.unsubscribe(subscription)

    async def _read_pauses(self) -> None:
        try:
            paused = await paused_queues()
        except Exception as exc:
            # The database is away: keep what we knew (the workers cannot fetch meanwhile anyway).
            logger.warning("could not read the paused queues (%s); keeping the last known", _cause(exc))
            return
        for queue, state in self._pauses.items():
            state.set(queue in paused)

    async def stop(self) -> None:
        """Let running jobs finish (up to JOB_SHUTDOWN_TIMEOUT), then stop fetching."""
        for task in self._tasks:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                logger.error("a job worker stopped with an error: %r", result)
        self._tasks.clear()
        self._workers.clear()
        self._pauses.clear()

    def running(self) -> bool:
        """True while every queue's worker is registered and fetching, or its queue is paused
        (False while one restarts)."""
        return bool(self._workers) and not self.down()

    def down(self) -> list[str]:
        """The queues whose worker is not running right now, paused queues left out (they are meant to be so)."""
        return [
            queue
            for queue, worker in self._workers.items()
            if (worker is None or worker.worker_id is None) and queue not in self.paused()
        ]

    def paused(self) -> list[str]:
        """This node's queues that are paused (as it last read job_queue_pauses)."""
        return [queue for queue, state in self._pauses.items() if state.paused.is_set()]


def _cause(error: BaseException) -> str:
    # procrastinate's ConnectorException says only "Database error."; the driver's error says why.
    inner = error.__cause__ or error
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__


async def ping() -> None:
    """Check the queue's tables answer (for /ready)."""
    await procrastinate_app.connector.execute_query_one_async("SELECT count(*) AS n FROM procrastinate_workers")


# --- Inspection (myapp jobs ..., the ops dashboard, /metrics) ---

JOB_STATES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
# Jobs, each with the reason of its last failed attempt, newest first. Every filter is optional, so
# listing jobs and getting one share this one statement (a constant: no input reaches its text).
_SELECT_JOBS = text(
    "SELECT j.id, j.queue_name, j.task_name, j.status::text, j.attempts, j.args, j.scheduled_at,"
    " (SELECT e.error FROM job_errors e WHERE e.job_id = j.id ORDER BY e.id DESC LIMIT 1)"
    " FROM procrastinate_jobs j"
    " WHERE (CAST(:id AS bigint) IS NULL OR j.id = :id)"
    " AND (CAST(:state AS text) IS NULL OR j.status::text = :state)"
    " AND (CAST(:queue AS text) IS NULL OR j.queue_name = :queue)"
    " AND (NOT CAST(:retrying AS boolean) OR EXISTS (SELECT 1 FROM job_errors e WHERE e.job_id = j.id))"
    " ORDER BY j.id DESC LIMIT :limit"
)


@dataclass(frozen=True)
class JobInfo:
    """One job as operators see it, with the reason of its last failed attempt.

    `max_attempts` is how many runs its task's retry strategy allows in all (None: unlimited, or
    not knowable here, e.g. a task only a worker process registers).
    """

    id: int
    queue: str
    task: str
    state: str
    attempts: int
    args: dict[str, Any]
    scheduled_at: datetime | None
    last_error: str | None
    max_attempts: int | None = None


@dataclass(frozen=True)
class JobError:
    """One failed attempt of a job: its number (1 for the first run), why it failed and when."""

    attempt: int
    error: str
    at: datetime


@dataclass(frozen=True)
class JobCount:
    """How many jobs of one task are in one state on one queue (the `jobs{queue,task,state}` gauge)."""

    queue: str
    task: str
    state: str
    count: int


@dataclass(frozen=True)
class QueueStats:
    """One queue at a glance: its jobs by state (every state, zeros included), whether it is paused,
    and how long its oldest due job has waited (None when none waits).

    Examples:
        QueueStats(queue="emails", counts={"todo": 3, "doing": 1, ..., "aborted": 0}, paused=False,
                   oldest_waiting=timedelta(seconds=12))
    """

    queue: str
    counts: Mapping[str, int]
    paused: bool
    oldest_waiting: timedelta | None


def max_attempts_of(task_name: str) -> int | None:
    """How many runs in all the task's retry strategy allows: `Backoff(max_attempts=3)` → 3, no retry
    → 1, procrastinate's `RetryStrategy(max_attempts=2)` (retries after the first run) → 3; None when
    unlimited or unknown (a task this process has not registered)."""
    task = procrastinate_app.tasks.get(task_name)
    if task is None:
        return None
    strategy = task.retry_strategy
    if strategy is None:
        return 1
    if isinstance(strategy, Backoff):
        return strategy.max_attempts
    if isinstance(strategy, RetryStrategy) and strategy.max_attempts:
        return strategy.max_attempts + 1
    return None


def _job_info(row: Sequence[Any]) -> JobInfo:
    job_id, queue, task, state, attempts, args, scheduled_at, last_error = row
    return JobInfo(
        job_id, queue, task, state, attempts, args, scheduled_at, last_error, max_attempts=max_attempts_of(task)
    )


async def list_jobs(
    *, state: str | None = None, queue: str | None = None, retrying: bool = False, limit: int = 50
) -> list[JobInfo]:
    """The newest jobs (optionally in one state, on one queue), each with its last recorded error, in one query.

    `retrying=True` lists the jobs waiting for a retry: `todo` with at least one failed attempt
    recorded in job_errors (however many newer jobs wait without one); its state is `todo` then.

    Examples:
        await jobs.list_jobs(state="failed", queue="emails", limit=20)
        await jobs.list_jobs(retrying=True, limit=20)   # [JobInfo(state="todo", last_error="SMTPError: ...")]
        await jobs.list_jobs(state="exploded")   # ValidationError: state must be one of todo, doing, ...
        await jobs.list_jobs(state="failed", retrying=True)   # ValidationError: a retrying job is todo
    """
    if state is not None and state not in JOB_STATES:
        raise ValidationError({"state": [f"must be one of {', '.join(JOB_STATES)}"]})
    if retrying:
        if state not in (None, "todo"):
            raise ValidationError({"state": ["jobs waiting for a retry are todo"]})
        state = "todo"
    async with repo.transaction() as session:
        rows = await session.execute(
            _SELECT_JOBS, {"id": None, "state": state, "queue": queue, "retrying": retrying, "limit": limit}
        )
        return [_job_info(row) for row in rows]


async def get_job(job_id: int) -> JobInfo:
    """The job with this id; raises NotFoundError for an unknown id."""
    async with repo.transaction() as session:
        row = (
            await session.execute(
                _SELECT_JOBS, {"id": job_id, "state": None, "queue": None, "retrying": False, "limit": 1}
            )
        ).first()
    if row is None:
        raise NotFoundError("job", job_id)
    return _job_info(row)


async def job_errors(job_id: int) -> list[JobError]:
    """Every recorded failed attempt of the job, first attempt first; NotFoundError for an unknown id.

    Examples:
        await jobs.job_errors(42)
        # [JobError(attempt=1, error="SMTPError: timeout", at=...), JobError(attempt=2, ...)]
        await jobs.job_errors(987654321)   # NotFoundError
    """
    found = await job_errors_for([job_id])
    if job_id not in found:
        raise NotFoundError("job", job_id)
    return found[job_id]


async def job_errors_for(job_ids: Sequence[int]) -> dict[int, list[JobError]]:
    """Every recorded failed attempt of each of these jobs, first attempt first, in one query (none
    for no id): each existing job is a key (`[]` when none of its runs failed); unknown ids are absent.

    Examples:
        await jobs.job_errors_for([42, 43, 987654321])
        # {42: [JobError(attempt=1, error="SMTPError: timeout", at=...), ...], 43: []}
    """
    if not job_ids:
        return {}
    async with repo.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT j.id, e.attempt, e.error, e.at FROM procrastinate_jobs j"
                " LEFT JOIN job_errors e ON e.job_id = j.id"
                " WHERE j.id = ANY(CAST(:ids AS bigint[])) ORDER BY j.id, e.id"
            ),
            {"ids": list(job_ids)},
        )
        found: dict[int, list[JobError]] = {}
        for job_id, attempt, error, at in rows:
            errors = found.setdefault(job_id, [])
            if attempt is not None:
                errors.append(JobError(attempt, error, at))
        return found


async def count_jobs() -> list[JobCount]:
    """Jobs by queue, task and state, in one query (states with no job are absent).

    Examples:
        await jobs.count_jobs()
        # [JobCount(queue="emails", task="email:deliver_email", state="failed", count=2), ...]
    """
    async with repo.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT queue_name, task_name, status::text, count(*) FROM procrastinate_jobs"
                " GROUP BY queue_name, task_name, status ORDER BY queue_name, task_name, status"
            )
        )
        return [JobCount(*row) for row in rows]


# Per queue: jobs by state, and the oldest due job. A due job waits since its scheduled time, or
# (never scheduled) since it was deferred; ids grow with time, so the oldest unscheduled one is the
# smallest id, and one event lookup per queue finds its time.
_QUEUE_STATS = """
WITH by_state AS (
    SELECT queue_name AS queue, jsonb_object_agg(state, n) AS counts
    FROM (SELECT queue_name, status::text AS state, count(*) AS n FROM procrastinate_jobs
          GROUP BY queue_name, status) counted
    GROUP BY queue_name
), due AS (
    SELECT queue_name AS queue, min(scheduled_at) AS first_scheduled,
           min(id) FILTER (WHERE scheduled_at IS NULL) AS first_unscheduled
    FROM procrastinate_jobs
    WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
    GROUP BY queue_name
), queues AS (
    SELECT queue FROM by_state
    UNION SELECT queue FROM job_queue_pauses
    UNION SELECT unnest(CAST(:configured AS text[]))
)
SELECT q.queue, s.counts, p.queue IS NOT NULL AS paused,
       now() - LEAST(d.first_scheduled, (SELECT e.at FROM procrastinate_events e
                                         WHERE e.job_id = d.first_unscheduled AND e.type = 'deferred'
                                         ORDER BY e.id LIMIT 1)) AS oldest_waiting
FROM queues q
LEFT JOIN by_state s ON s.queue = q.queue
LEFT JOIN due d ON d.queue = q.queue
LEFT JOIN job_queue_pauses p ON p.queue = q.queue
ORDER BY q.queue
"""


async def queue_stats() -> list[QueueStats]:
    """Every queue that has jobs, is configured (JOB_QUEUES) or is paused, by name, in one query.

    Examples:
        await jobs.queue_stats()
        # [QueueStats(queue="default", counts={"todo": 0, ...}, paused=False, oldest_waiting=None),
        #  QueueStats(queue="emails", counts={"todo": 3, ...}, paused=True, oldest_waiting=timedelta(...))]
    """
    configured = list(parse_queues(settings().job_queues))
    async with repo.transaction() as session:
        rows = await session.execute(text(_QUEUE_STATS), {"configured": configured})
        return [
            QueueStats(
                queue=queue,
                counts={state: int((counts or {}).get(state, 0)) for state in JOB_STATES},
                paused=paused,
                oldest_waiting=max(oldest, timedelta(0)) if oldest is not None else None,
            )
            for queue, counts, paused, oldest in rows
        ]


async def retry_job(job_id: int) -> JobInfo:
    """Run a failed job again now (one more attempt)."""
    job = await get_job(job_id)
    if job.state != "failed":
        raise ValidationError({"state": [f"only failed jobs can be retried; job {job_id} is {job.state}"]})
    await procrastinate_app.job_manager.retry_job_by_id_async(job_id, retry_at=datetime.now(UTC))
    return await get_job(job_id)


async def cancel_job(job_id: int) -> JobInfo:
    """Cancel a waiting job, or ask a running one to stop (it ends as `aborted`)."""
    job = await get_job(job_id)
    if job.state not in ("todo", "doing"):
        raise ValidationError(
            {"state": [f"only waiting or running jobs can be cancelled; job {job_id} is {job.state}"]}
        )
    await procrastinate_app.job_manager.cancel_job_by_id_async(job_id, abort=True)
    return await get_job(job_id)
