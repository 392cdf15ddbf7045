"""The job queue's guarantees: transactional enqueue, backoff, scheduling and uniqueness.

Tests that need a job to be visible outside its transaction (to procrastinate's pool, to a worker,
to a concurrent transaction) commit for real and use `committed_db` instead of the `db` sandbox.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from procrastinate.jobs import Job
from sqlalchemy import select

from my_app import jobs, mailer, repo
from my_app.accounts import User, notifier
from my_app.config import Settings
from tests.support.jobs import (
    committed_db_fixture,  # noqa: F401 - fixture
    job_row,
    job_settings_fixture,  # noqa: F401 - fixture
    jobs_of,
    restore_mailer_fixture,  # noqa: F401 - fixture
    run_worker,
)

DELIVER = "email:deliver_email"


class BoomError(Exception):
    """Stands for whatever makes a transaction fail after it enqueued a job."""


def new_user(email: str = "ada@example.com") -> User:
    return User(email=email, name="Ada Lovelace")


async def insert_user(email: str = "ada@example.com") -> User:
    user = new_user(email)
    async with repo.transaction() as session:
        session.add(user)
    return user


def job(attempts: int) -> Job:
    return Job(
        id=1, queue="emails", lock=None, queueing_lock=None, task_name=DELIVER, attempts=attempts, task_kwargs={}
    )


# --- Backoff ---


def test_backoff_doubles_with_each_attempt_plus_at_most_ten_percent() -> None:
    for attempt in range(1, 8):
        expected = 15 * 2 ** (attempt - 1)
        for _ in range(50):
            delay = jobs.backoff_seconds(attempt, base=15, maximum=10_000)
            assert expected <= delay <= expected * 1.1


def test_backoff_is_capped_at_the_maximum_plus_jitter() -> None:
    for attempt in (10, 20, 60):
        delay = jobs.backoff_seconds(attempt, base=15, maximum=3600)
        assert 3600 <= delay <= 3960


def test_backoff_has_jitter() -> None:
    delays = {jobs.backoff_seconds(3, base=15, maximum=3600) for _ in range(20)}

    assert len(delays) > 1, "retries of jobs that failed together must spread out"


@pytest.mark.usefixtures("job_settings")
@pytest.mark.parametrize("reason", [jobs.JobCancelled("user is gone"), jobs.JobDiscarded("unknown type")])
def test_cancelled_and_discarded_jobs_are_never_retried(reason: Exception) -> None:
    assert jobs.Backoff(max_attempts=3).get_retry_decision(exception=reason, job=job(attempts=0)) is None


def test_other_failures_are_retried_after_the_backoff(job_settings: Callable[..., Settings]) -> None:
    job_settings(job_backoff_base=100, job_backoff_max=10_000)
    strategy = jobs.Backoff(max_attempts=3)

    first = strategy.get_retry_decision(exception=RuntimeError("smtp down"), job=job(attempts=0))
    second = strategy.get_retry_decision(exception=RuntimeError("smtp down"), job=job(attempts=1))

    now = datetime.now(UTC)
    assert first is not None
    assert second is not None
    assert first.retry_at is not None
    assert second.retry_at is not None
    assert timedelta(seconds=99) <= first.retry_at - now <= timedelta(seconds=111)
    assert timedelta(seconds=199) <= second.retry_at - now <= timedelta(seconds=221)


@pytest.mark.usefixtures("job_settings")
def test_no_retry_once_max_attempts_runs_are_done() -> None:
    strategy = jobs.Backoff(max_attempts=3)

    # procrastinate's `attempts` counts the runs before the current one: the third run has attempts=2.
    assert strategy.get_retry_decision(exception=RuntimeError("down"), job=job(attempts=2)) is None
    assert strategy.get_retry_decision(exception=RuntimeError("down"), job=job(attempts=5)) is None


def test_the_email_worker_runs_three_times_at_most() -> None:
    assert notifier.deliver_email.retry_strategy == jobs.Backoff(max_attempts=3)


# --- Transactional enqueue ---


@pytest.mark.usefixtures("committed_db")
async def test_a_job_enqueued_in_a_committed_transaction_exists() -> None:
    user = new_user()
    async with repo.transaction() as session:
        session.add(user)
        await session.flush()
        job_id = await jobs.enqueue(session, notifier.deliver_email, type="welcome", user_id=str(user.id))

    assert job_id is not None
    row = await job_row(job_id)
    assert (row.task_name, row.queue_name, row.status) == (DELIVER, "emails", "todo")
    assert row.args == {"type": "welcome", "user_id": str(user.id)}


@pytest.mark.usefixtures("committed_db")
async def test_a_job_enqueued_in_a_failed_transaction_does_not_exist() -> None:
    user = new_user()
    enqueued: list[int | None] = []

    async def register_then_fail() -> None:
        async with repo.transaction() as session:
            session.add(user)
            await session.flush()
            enqueued.append(await jobs.enqueue(session, notifier.deliver_email, type="welcome", user_id=str(user.id)))
            raise BoomError

    with pytest.raises(BoomError):
        await register_then_fail()

    assert len(enqueued) == 1
    assert enqueued[0] is not None, "the job was inserted before the failure"
    assert await jobs_of(DELIVER) == []
    async with repo.transaction() as session:
        assert await session.scalar(select(User).where(User.email == "ada@example.com")) is None


# --- Scheduling ---


@pytest.mark.usefixtures("committed_db", "restore_mailer")
async def test_a_job_scheduled_in_an_hour_waits_for_its_time() -> None:
    user = await insert_user()
    async with repo.transaction() as session:
        job_id = await jobs.enqueue(
            session, notifier.deliver_email, schedule_in=timedelta(hours=1), type="reminder", user_id=str(user.id)
        )
    assert job_id is not None

    row = await job_row(job_id)
    assert row.scheduled_at is not None
    assert abs(row.scheduled_at - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(minutes=1)

    await run_worker("emails")

    row = await job_row(job_id)
    assert (row.status, row.attempts) == ("todo", 0)
    assert mailer.test_adapter.sent() == []


@pytest.mark.usefixtures("committed_db")
async def test_a_job_can_be_scheduled_at_a_given_time() -> None:
    at = datetime(2100, 1, 1, 9, 30, tzinfo=UTC)
    async with repo.transaction() as session:
        job_id = await jobs.enqueue(
            session, notifier.deliver_email, schedule_at=at, type="reminder", user_id=str(uuid.uuid4())
        )
    assert job_id is not None

    await run_worker("emails")

    row = await job_row(job_id)
    assert (row.scheduled_at, row.status, row.attempts) == (at, "todo", 0)


# --- Uniqueness ---


async def enqueue_reset(*, unique_for: timedelta, user_id: str, url: str = "https://x.test/r/1") -> int | None:
    async with repo.transaction() as session:
        return await jobs.enqueue(
            session, notifier.deliver_email, unique_for=unique_for, type="password_reset", user_id=user_id, url=url
        )


@pytest.mark.usefixtures("committed_db")
async def test_an_equal_job_within_the_period_is_not_enqueued_twice() -> None:
    user_id = str(uuid.uuid4())
    first = await enqueue_reset(unique_for=timedelta(seconds=60), user_id=user_id)
    second = await enqueue_reset(unique_for=timedelta(seconds=60), user_id=user_id)

    assert first is not None
    assert second is None
    assert [row.id for row in await jobs_of(DELIVER)] == [first]


@pytest.mark.usefixtures("committed_db")
async def test_jobs_with_other_arguments_are_not_twins() -> None:
    user_id = str(uuid.uuid4())
    first = await enqueue_reset(unique_for=timedelta(seconds=60), user_id=user_id)
    other_user = await enqueue_reset(unique_for=timedelta(seconds=60), user_id=str(uuid.uuid4()))
    other_url = await enqueue_reset(unique_for=timedelta(seconds=60), user_id=user_id, url="https://x.test/r/2")

    assert None not in (first, other_user, other_url)
    assert len(await jobs_of(DELIVER)) == 3


@pytest.mark.usefixtures("committed_db")
async def test_two_concurrent_transactions_enqueue_a_unique_job_once() -> None:
    user_id = str(uuid.uuid4())
    both_inside = asyncio.Barrier(2)

    async def request() -> int | None:
        async with repo.transaction() as session:
            await session.connection()  # the transaction has begun on its own connection
            await both_inside.wait()
            job_id = await jobs.enqueue(
                session,
                notifier.deliver_email,
                unique_for=timedelta(seconds=60),
                type="password_reset",
                user_id=user_id,
                url="https://x.test/r/1",
            )
            # Keep the transaction open a while: the other one enqueues before this commits.
            await asyncio.sleep(0.3)
            return job_id

    results = await asyncio.wait_for(asyncio.gather(request(), request()), timeout=30)

    enqueued = [job_id for job_id in results if job_id is not None]
    assert len(enqueued) == 1, f"exactly one of the two requests enqueues: {results}"
    assert [row.id for row in await jobs_of(DELIVER)] == enqueued


@pytest.mark.usefixtures("committed_db")
async def test_an_equal_job_is_accepted_again_after_the_period() -> None:
    user_id = str(uuid.uuid4())
    first = await enqueue_reset(unique_for=timedelta(seconds=1), user_id=user_id)
    await asyncio.sleep(1.2)
    second = await enqueue_reset(unique_for=timedelta(seconds=1), user_id=user_id)

    assert first is not None
    assert second is not None
    assert second != first
    assert len(await jobs_of(DELIVER)) == 2


# --- Queues ---


def test_queues_are_parsed_with_their_concurrency() -> None:
    assert jobs.parse_queues("default:10, emails:5,slow") == {"default": 10, "emails": 5, "slow": 1}


@pytest.mark.parametrize("spec", ["emails:0", "emails:x", ":3"])
def test_invalid_queue_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="invalid queue"):
        jobs.parse_queues(spec)


# --- Supervision: a worker that stops on its own is started again ---


class FakeWorker:
    """Stands for procrastinate's Worker: registers, then runs until told how to end."""

    def __init__(self) -> None:
        self.worker_id: int | None = None
        self.end = asyncio.Event()
        self.error: Exception | None = None
        self.ended = False

    async def run(self) -> None:
        self.worker_id = 1
        try:
            await self.end.wait()
        finally:
            self.worker_id, self.ended = None, True
        if self.error is not None:
            raise self.error


@dataclass
class FakeWorkers(jobs.JobWorkers):
    made: list[FakeWorker] = field(default_factory=list)

    def _new_worker(self, queue: str, concurrency: int) -> FakeWorker:  # type: ignore[override]
        worker = FakeWorker()
        self.made.append(worker)
        return worker


async def _until(condition: Callable[[], bool], what: str) -> None:
    from tests.support.jobs import eventually

    async def holds() -> bool:
        return condition()

    await eventually(holds, within=5, message=what)


@pytest.mark.parametrize(
    ("error", "reason"),
    [(None, "it stopped"), (RuntimeError("connection refused"), "RuntimeError: connection refused")],
    ids=["stopped", "raised"],
)
async def test_a_worker_that_ends_on_its_own_is_restarted_after_a_backoff(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception | None,
    reason: str,
) -> None:
    monkeypatch.setattr(jobs, "RESTART_BASE", 0.4)  # long enough to see the worker down meanwhile
    workers = FakeWorkers(settings, queues={"emails": 1})
    await workers.start()
    try:
        await _until(workers.running, "the first worker to register")
        first = workers.made[0]
        first.error = error
        first.end.set()
        await _until(lambda: first.ended, "the first worker to end")

        assert not workers.running()
        assert workers.down() == ["emails"]
        await _until(lambda: len(workers.made) == 2 and workers.running(), "a second worker to register")
    finally:
        await workers.stop()

    assert workers.restarts == 1
    assert not workers.running()
    assert workers.made[1].ended  # stop() ended it
    restarts = [r.getMessage() for r in caplog.records if "job worker for queue" in r.getMessage()]
    assert len(restarts) == 1
    assert restarts[0].startswith(f"job worker for queue emails ended ({reason}); restarting in 0.")


def test_restarts_in_a_row_wait_longer_up_to_the_cap() -> None:
    assert 0.1 <= jobs.restart_delay(1) <= 0.2
    assert 0.4 <= jobs.restart_delay(3) <= 0.8
    assert jobs.RESTART_MAX / 2 <= jobs.restart_delay(50) <= jobs.RESTART_MAX


# --- Registration: the queue is handed its tasks; it imports no worker ---


def test_the_job_queue_module_imports_no_worker_and_no_context() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(jobs))
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    forbidden = {
        name
        for name in imported
        if name and name.startswith(("my_app.workers", "my_app.accounts", "my_app.chat", "my_app.schema_registry"))
    }
    assert forbidden == set()


async def test_open_queue_registers_the_blueprints_and_periodic_tasks_it_is_given(settings: Settings) -> None:
    from procrastinate import Blueprint

    blueprint = Blueprint()

    @blueprint.task(name="handed_over", queue="default")
    async def handed_over() -> None:
        """A task only this test knows."""

    namespace = f"handed{uuid.uuid4().hex[:6]}"
    jobs.register_tasks({namespace: blueprint}, [jobs.Periodic(handed_over, cron="0 4 * * *")])
    jobs.register_tasks({namespace: blueprint}, [jobs.Periodic(handed_over, cron="0 4 * * *")])  # again: no-op

    assert f"{namespace}:handed_over" in jobs.procrastinate_app.tasks
    periodic = [p for p in jobs.procrastinate_app.periodic_registry.periodic_tasks.values() if p.task is handed_over]
    assert [p.cron for p in periodic] == ["0 4 * * *"]
