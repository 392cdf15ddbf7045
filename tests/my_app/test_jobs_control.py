"""Job control for operators: counts, queue stats, job errors, pausing queues (on every node) and job metrics.

Runs real procrastinate workers on committed data (`committed_db`): in this process (`JobWorkers`,
as `myapp server` runs them) and, for a second node, in a `myapp worker` child process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from procrastinate import Blueprint

from my_app import jobs, metrics, repo
from my_app.accounts import notifier
from my_app.config import Settings
from my_app.errors import NotFoundError, ValidationError
from tests.support import slow_tasks
from tests.support.jobs import (
    committed_db_fixture,  # noqa: F401 - fixture
    defer_by_name,
    eventually,
    execute,
    job_row,
    job_settings_fixture,  # noqa: F401 - fixture
    retry_at_once_fixture,  # noqa: F401 - fixture
    run_until,
    start_worker_process,
    wait_for_state,
)
from tests.support.query_count import count_queries

QUEUE_A = "control_a"
QUEUE_B = "control_b"
NAMESPACE = "control"

blueprint = Blueprint()


@blueprint.task(name="note", queue=QUEUE_A, retry=jobs.Backoff(max_attempts=2))
async def note(*, value: str) -> str:
    """Succeeds at once."""
    return value


@blueprint.task(name="fail", queue=QUEUE_A, retry=jobs.Backoff(max_attempts=2))
async def fail(*, reason: str) -> None:
    """Fails every time, so it is retried once, then failed for good."""
    raise RuntimeError(reason)


@blueprint.task(name="linger", queue=QUEUE_A, retry=jobs.Backoff(max_attempts=3))
async def linger(*, seconds: float) -> str:
    """Takes its time, then succeeds."""
    await asyncio.sleep(seconds)
    return "done"


@blueprint.task(name="once", queue=QUEUE_B)
async def once() -> None:
    """Never retried (no retry strategy)."""


@blueprint.task(name="retried_twice", queue=QUEUE_B, retry=2)
async def retried_twice() -> None:
    """procrastinate's own RetryStrategy: two retries after the first run."""


NOTE, FAIL, LINGER = f"{NAMESPACE}:note", f"{NAMESPACE}:fail", f"{NAMESPACE}:linger"
pytestmark = pytest.mark.usefixtures("no_pauses")


@pytest.fixture(name="no_pauses")
async def no_pauses_fixture(committed_db: None) -> AsyncIterator[None]:
    """Committed data, the test tasks registered, and no queue paused before or after the test."""
    jobs.register_tasks({NAMESPACE: blueprint})
    await execute("DELETE FROM job_queue_pauses")
    try:
        yield
    finally:
        await execute("DELETE FROM job_queue_pauses")


async def defer(task: str, *, queue: str | None = None, schedule_at: datetime | None = None, **args: Any) -> int:
    options: dict[str, Any] = {"schedule_at": schedule_at} if schedule_at else {}
    if queue:
        options["queue"] = queue
    return int(await jobs.procrastinate_app.configure_task(name=task, **options).defer_async(**args))


@pytest.fixture(name="start_workers")
async def start_workers_fixture(settings: Settings) -> AsyncIterator[Callable[..., Any]]:
    """`await start_workers()`: JobWorkers on QUEUE_A and QUEUE_B in this process, stopped after the test."""
    started: list[jobs.JobWorkers] = []

    async def start(settings_: Settings = settings) -> jobs.JobWorkers:
        workers = jobs.JobWorkers(settings_, queues={QUEUE_A: 1, QUEUE_B: 1})
        started.append(workers)
        await workers.start()
        await until(workers.running, "the job workers to register", within=10)
        return workers

    try:
        yield start
    finally:
        for workers in started:
            await workers.stop()


async def until(condition: Callable[[], bool], what: str, *, within: float) -> None:
    async def holds() -> bool:
        return condition()

    await eventually(holds, within=within, message=what)


async def stays(job_id: int, state: str, *, seconds: float) -> None:
    """The job is still in `state` after `seconds` (checked all along)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert (await job_row(job_id)).status == state
        await asyncio.sleep(0.1)


# --- Counts and queue stats ---


@pytest.mark.usefixtures("retry_at_once")
async def test_count_jobs_counts_jobs_by_queue_task_and_state() -> None:
    failed = await defer(FAIL, reason="boom")
    await run_until(failed, QUEUE_A)
    for value in ("a", "b"):
        await defer(NOTE, value=value)
    await defer(NOTE, queue=QUEUE_B, value="c")

    counts = [count for count in await jobs.count_jobs() if count.queue in (QUEUE_A, QUEUE_B)]

    assert counts == [
        jobs.JobCount(queue=QUEUE_A, task=FAIL, state="failed", count=1),
        jobs.JobCount(queue=QUEUE_A, task=NOTE, state="todo", count=2),
        jobs.JobCount(queue=QUEUE_B, task=NOTE, state="todo", count=1),
    ]


async def test_queue_stats_give_each_queue_its_counts_pause_and_oldest_wait(settings: Settings) -> None:
    now = datetime.now(UTC)
    await defer(NOTE, value="due now")
    await defer(NOTE, value="due 10 minutes ago", schedule_at=now - timedelta(minutes=10))
    await defer(NOTE, queue=QUEUE_B, value="later", schedule_at=now + timedelta(hours=1))
    await jobs.pause_queue(QUEUE_B)

    stats = {queue.queue: queue for queue in await jobs.queue_stats()}

    zeros = dict.fromkeys(jobs.JOB_STATES, 0)
    a, b = stats[QUEUE_A], stats[QUEUE_B]
    assert (a.counts, a.paused) == ({**zeros, "todo": 2}, False)
    assert a.oldest_waiting is not None
    assert timedelta(minutes=10) <= a.oldest_waiting < timedelta(minutes=11)
    # B's only job is not due: nothing waits, and the queue is listed as paused.
    assert (b.counts, b.paused, b.oldest_waiting) == ({**zeros, "todo": 1}, True, None)
    # Configured queues are listed even without a job.
    for configured in jobs.parse_queues(settings.job_queues):
        assert stats[configured].counts == zeros


async def test_a_paused_queue_without_jobs_is_listed() -> None:
    await jobs.pause_queue(QUEUE_A)  # known: a registered task uses it

    stats = {queue.queue: queue for queue in await jobs.queue_stats()}

    assert stats[QUEUE_A].paused
    assert set(stats[QUEUE_A].counts.values()) == {0}
    assert await jobs.paused_queues() == {QUEUE_A}


# --- Listing, attempts and errors ---


@pytest.mark.usefixtures("retry_at_once")
async def test_job_errors_lists_every_failed_attempt_with_its_time() -> None:
    before = datetime.now(UTC)
    job_id = await defer(FAIL, reason="smtp down")
    await run_until(job_id, QUEUE_A)

    errors = await jobs.job_errors(job_id)

    assert [(error.attempt, error.error) for error in errors] == [
        (1, "RuntimeError: smtp down"),
        (2, "RuntimeError: smtp down"),
    ]
    assert before <= errors[0].at <= errors[1].at <= datetime.now(UTC)
    job = await jobs.get_job(job_id)
    assert (job.state, job.attempts, job.max_attempts, job.last_error) == ("failed", 2, 2, "RuntimeError: smtp down")


async def test_a_job_without_failures_has_no_errors_and_an_unknown_job_is_not_found() -> None:
    job_id = await defer(NOTE, value="x")

    assert await jobs.job_errors(job_id) == []
    with pytest.raises(NotFoundError):
        await jobs.job_errors(987654321)


async def test_list_jobs_filters_by_queue_and_state() -> None:
    on_a = await defer(NOTE, value="a")
    on_b = await defer(NOTE, queue=QUEUE_B, value="b")
    later_on_b = await defer(NOTE, queue=QUEUE_B, value="c", schedule_at=datetime.now(UTC) + timedelta(hours=1))
    await jobs.cancel_job(later_on_b)

    assert [job.id for job in await jobs.list_jobs(queue=QUEUE_A)] == [on_a]
    assert [job.id for job in await jobs.list_jobs(queue=QUEUE_B)] == [later_on_b, on_b]
    assert [job.id for job in await jobs.list_jobs(queue=QUEUE_B, state="todo")] == [on_b]
    assert await jobs.list_jobs(queue="nowhere") == []


async def record_errors(job_id: int, *errors: str) -> None:
    """The job's attempts 1, 2, ... failed with `errors` (as `record_outcome` keeps them)."""
    for attempt, error in enumerate(errors, start=1):
        await execute(
            "INSERT INTO job_errors (job_id, attempt, error) VALUES (:id, :attempt, :error)",
            id=job_id,
            attempt=attempt,
            error=error,
        )


async def test_job_errors_for_gives_each_job_its_errors_in_one_query() -> None:
    failing, fine = await defer(FAIL, reason="smtp down"), await defer(NOTE, value="x")
    await record_errors(failing, "RuntimeError: smtp down", "RuntimeError: smtp still down")

    async with count_queries() as queries:
        found = await jobs.job_errors_for([failing, fine, 987654321])

    assert len(queries) == 1, queries
    assert {job_id: [(e.attempt, e.error) for e in errors] for job_id, errors in found.items()} == {
        failing: [(1, "RuntimeError: smtp down"), (2, "RuntimeError: smtp still down")],
        fine: [],  # an unknown id is absent
    }
    async with count_queries() as none:
        assert await jobs.job_errors_for([]) == {}
    assert none == []


async def test_list_jobs_retrying_finds_a_waiting_job_that_failed_before_however_many_wait_after_it() -> None:
    retrying = await defer(FAIL, reason="smtp down")
    await record_errors(retrying, "RuntimeError: smtp down")
    newer = [await defer(NOTE, value=str(n)) for n in range(3)]
    failed = await defer(FAIL, reason="gone")
    await execute("UPDATE procrastinate_jobs SET status = 'failed', attempts = 1 WHERE id = :id", id=failed)
    await record_errors(failed, "RuntimeError: gone")

    [found] = await jobs.list_jobs(retrying=True, limit=2)

    assert (found.id, found.state, found.last_error) == (retrying, "todo", "RuntimeError: smtp down")
    assert [job.id for job in await jobs.list_jobs(state="todo", limit=2)] == newer[:0:-1]  # it is not among these
    assert await jobs.list_jobs(retrying=True, queue=QUEUE_B) == []
    with pytest.raises(ValidationError):
        await jobs.list_jobs(state="failed", retrying=True)


def test_max_attempts_follows_each_task_retry_strategy() -> None:
    jobs.register_tasks({NAMESPACE: blueprint})

    assert jobs.max_attempts_of(notifier.deliver_email.name) == 3  # Backoff(max_attempts=3)
    assert jobs.max_attempts_of(f"{NAMESPACE}:once") == 1  # no retry
    assert jobs.max_attempts_of(f"{NAMESPACE}:retried_twice") == 3  # the first run and two retries
    assert jobs.max_attempts_of("nobody:knows") is None


# --- Pausing and resuming ---


async def test_a_paused_queue_keeps_its_jobs_waiting_while_another_runs_then_runs_them_after_resume(
    start_workers: Callable[..., Any],
) -> None:
    workers = await start_workers()

    await jobs.pause_queue(QUEUE_A)
    await until(lambda: workers.paused() == [QUEUE_A], "the workers to see the pause", within=2)
    waiting = await defer(NOTE, value="held")
    other = await defer(NOTE, queue=QUEUE_B, value="runs")

    await wait_for_state(other, "succeeded", within=10)
    await stays(waiting, "todo", seconds=1.5)
    # Paused on purpose is not down: /ready stays green.
    assert workers.running()
    assert workers.down() == []

    await jobs.resume_queue(QUEUE_A)
    await wait_for_state(waiting, "succeeded", within=5)
    assert workers.paused() == []
    assert await jobs.paused_queues() == set()


async def test_a_pause_whose_message_was_lost_is_seen_at_the_next_recheck(
    start_workers: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "PAUSE_RECHECK", 0.3)
    workers = await start_workers()

    # Written without the PubSub message (as if it had been lost): only the periodic re-read sees it.
    await execute("INSERT INTO job_queue_pauses (queue) VALUES (:queue)", queue=QUEUE_B)
    await until(lambda: workers.paused() == [QUEUE_B], "the re-read to see the pause", within=3)
    await execute("DELETE FROM job_queue_pauses")
    await until(lambda: workers.paused() == [], "the re-read to see the resume", within=3)
    job_id = await defer(NOTE, queue=QUEUE_B, value="runs again")
    await wait_for_state(job_id, "succeeded", within=10)


async def test_a_running_job_finishes_when_its_queue_is_paused(start_workers: Callable[..., Any]) -> None:
    workers = await start_workers()
    job_id = await defer(LINGER, seconds=1.5)
    await wait_for_state(job_id, "doing", within=10)

    await jobs.pause_queue(QUEUE_A)

    row = await wait_for_state(job_id, "succeeded", within=10)
    assert row.attempts == 1
    assert workers.paused() == [QUEUE_A]


async def test_a_pause_holds_across_a_restart_of_the_workers(start_workers: Callable[..., Any]) -> None:
    first = await start_workers()
    await jobs.pause_queue(QUEUE_A)
    await until(lambda: first.paused() == [QUEUE_A], "the workers to see the pause", within=2)
    await first.stop()

    waiting = await defer(NOTE, value="held")
    other = await defer(NOTE, queue=QUEUE_B, value="runs")
    second = await start_workers()

    assert second.paused() == [QUEUE_A]
    await wait_for_state(other, "succeeded", within=10)
    await stays(waiting, "todo", seconds=1.0)
    await jobs.resume_queue(QUEUE_A)
    await wait_for_state(waiting, "succeeded", within=5)


async def test_stopping_while_a_paused_queue_drains_still_ends_within_the_shutdown_timeout(
    settings: Settings, start_workers: Callable[..., Any]
) -> None:
    workers = await start_workers(settings.model_copy(update={"job_shutdown_timeout": 1.0}))
    job_id = await defer(LINGER, seconds=60)
    await wait_for_state(job_id, "doing", within=10)
    await jobs.pause_queue(QUEUE_A)
    await until(lambda: workers.paused() == [QUEUE_A], "the workers to see the pause", within=2)

    began = time.monotonic()
    await workers.stop()

    assert time.monotonic() - began < 10
    # Aborted by the shutdown, like any stop: back in the queue for a later attempt.
    row = await job_row(job_id)
    assert (row.status, row.attempts) == ("todo", 1)


@pytest.mark.integration
async def test_a_pause_reaches_a_worker_on_another_node(tmp_path: Path) -> None:
    task = slow_tasks.task_name("sleep")
    worker = start_worker_process(tmp_path / "worker.log", "--queues", slow_tasks.QUEUE)
    try:
        running = await defer_by_name(task, queue=slow_tasks.QUEUE, seconds=1.5)
        await wait_for_state(running, "doing", worker=worker)

        await jobs.pause_queue(slow_tasks.QUEUE)
        paused_at = time.monotonic()

        # The job it was running finishes; after about a second it fetches nothing more.
        assert (await wait_for_state(running, "succeeded", worker=worker)).attempts == 1
        await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - paused_at)))
        waiting = await defer_by_name(task, queue=slow_tasks.QUEUE, seconds=0)
        await stays(waiting, "todo", seconds=2.0)

        await jobs.resume_queue(slow_tasks.QUEUE)
        await wait_for_state(waiting, "succeeded", worker=worker, within=10)
    finally:
        worker.stop()


@pytest.mark.parametrize("action", [jobs.pause_queue, jobs.resume_queue], ids=["pause", "resume"])
async def test_an_unknown_queue_is_refused(action: Callable[[str], Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        await action("emials")

    assert raised.value.errors == {"queue": ["unknown queue 'emials'; known queues: " + known_queues()]}
    assert await jobs.paused_queues() == set()


def known_queues() -> str:
    named = set(jobs.parse_queues(jobs.settings().job_queues))
    named |= {task.queue for task in jobs.procrastinate_app.tasks.values() if task.queue != "builtin"}
    return ", ".join(sorted(named))


async def test_a_queue_known_only_by_its_jobs_can_be_paused() -> None:
    await defer(NOTE, queue="only_jobs_know_me", value="x")

    await jobs.pause_queue("only_jobs_know_me")

    assert await jobs.paused_queues() == {"only_jobs_know_me"}


async def test_pausing_twice_and_resuming_a_running_queue_change_nothing() -> None:
    await jobs.pause_queue(QUEUE_A)
    await jobs.pause_queue(QUEUE_A)
    assert await jobs.paused_queues() == {QUEUE_A}

    await jobs.resume_queue(QUEUE_B)
    assert await jobs.paused_queues() == {QUEUE_A}


# --- Metrics ---


def finished(task: str, outcome: str, queue: str = QUEUE_A) -> float:
    return (
        metrics.registry.get_sample_value("jobs_finished_total", {"queue": queue, "task": task, "outcome": outcome})
        or 0.0
    )


def timed(task: str, queue: str = QUEUE_A) -> float:
    return metrics.registry.get_sample_value("job_duration_seconds_count", {"queue": queue, "task": task}) or 0.0


@pytest.mark.usefixtures("retry_at_once")
async def test_each_attempt_is_counted_by_outcome_and_timed() -> None:
    before = {
        "succeeded": finished(NOTE, "succeeded"),
        "failed": finished(FAIL, "failed"),
        "discarded": finished(notifier.deliver_email.name, "discarded", "emails"),
        "cancelled": finished(notifier.deliver_email.name, "cancelled", "emails"),
        "note timed": timed(NOTE),
        "fail timed": timed(FAIL),
    }
    await run_until(await defer(NOTE, value="x"), QUEUE_A)
    await run_until(await defer(FAIL, reason="boom"), QUEUE_A)  # two attempts
    async with repo.transaction() as session:
        discarded = await jobs.enqueue(session, notifier.deliver_email, type="birthday", user_id=str(uuid.uuid4()))
        cancelled = await jobs.enqueue(session, notifier.deliver_email, type="welcome", user_id=str(uuid.uuid4()))
    assert discarded is not None
    assert cancelled is not None
    await run_until(discarded, "emails")
    await run_until(cancelled, "emails")

    assert finished(NOTE, "succeeded") - before["succeeded"] == 1
    assert finished(FAIL, "failed") - before["failed"] == 2
    assert finished(notifier.deliver_email.name, "discarded", "emails") - before["discarded"] == 1
    assert finished(notifier.deliver_email.name, "cancelled", "emails") - before["cancelled"] == 1
    assert timed(NOTE) - before["note timed"] == 1
    assert timed(FAIL) - before["fail timed"] == 2
