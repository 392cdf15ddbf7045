"""Periodic housekeeping: the cron schedule, pruning old jobs, purging tokens, rescuing stalled jobs."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from procrastinate.jobs import Status

from my_app import accounts, jobs
from my_app.application import job_tasks
from my_app.config import Settings
from my_app.workers import maintenance
from tests.support import slow_tasks
from tests.support.jobs import (
    committed_db_fixture,  # noqa: F401 - fixture
    defer_by_name,
    eventually,
    execute,
    find_job,
    job_errors,
    job_row,
    job_settings_fixture,  # noqa: F401 - fixture
    run_until,
    start_worker_process,
    wait_for_state,
)

# --- The schedule ---


@pytest.mark.usefixtures("started_app")
def test_the_periodic_jobs_are_scheduled_with_the_crons_from_settings(settings: Settings) -> None:
    scheduled = {
        periodic.task.name: (periodic.cron, periodic.task.queue)
        for periodic in jobs.procrastinate_app.periodic_registry.periodic_tasks.values()
    }

    assert scheduled["maintenance:prune_jobs"] == (settings.job_cron_prune, "default")
    assert scheduled["maintenance:rescue_stalled_jobs"] == (settings.job_cron_retry_stalled, "default")
    assert scheduled["maintenance:purge_expired_tokens"] == (settings.job_cron_purge_tokens, "default")


def test_the_maintenance_tasks_run_on_the_default_queue() -> None:
    for name in ("prune_jobs", "rescue_stalled_jobs", "purge_expired_tokens"):
        assert jobs.procrastinate_app.tasks[f"maintenance:{name}"].queue == "default"


# --- Pruning ---

PARKED = "test-parked"  # a queue no worker in these tests runs
STATES = (Status.TODO, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.ABORTED)


async def finished_job(status: Status, *, days_ago: float) -> int:
    """A job of a test task that reached `status` `days_ago` days ago (its events are backdated)."""
    job_id = await defer_by_name("test:noop", queue=PARKED)
    manager = jobs.procrastinate_app.job_manager
    if status == Status.CANCELLED:
        await manager.cancel_job_by_id_async(job_id)
    elif status != Status.TODO:
        await manager.finish_job_by_id_async(job_id, status=status, delete_job=False)
    await execute(
        "UPDATE procrastinate_events SET at = now() - make_interval(days => :days) WHERE job_id = :id",
        days=days_ago,
        id=job_id,
    )
    return job_id


async def prune() -> None:
    job_id = await defer_by_name("maintenance:prune_jobs", timestamp=int(time.time()))
    row = await run_until(job_id, "default")
    assert row.status == "succeeded"


@pytest.mark.usefixtures("committed_db")
async def test_prune_deletes_finished_jobs_older_than_the_retention_period_and_keeps_the_rest() -> None:
    old = {status: await finished_job(status, days_ago=8) for status in STATES}
    recent = {status: await finished_job(status, days_ago=6) for status in STATES}
    await execute("INSERT INTO job_errors (job_id, attempt, error) VALUES (:id, 1, 'boom')", id=old[Status.FAILED])

    await prune()

    for status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.ABORTED):
        assert await find_job(old[status]) is None, f"an old {status.value} job must be pruned"
    assert (await job_row(old[Status.TODO])).status == "todo", "a job still waiting is never pruned"
    for status, job_id in recent.items():
        assert (await job_row(job_id)).status == status.value, f"a recent {status.value} job must be kept"
    assert await job_errors(old[Status.FAILED]) == [], "a pruned job's error notes go with it"


@pytest.mark.usefixtures("committed_db")
async def test_prune_follows_job_prune_after_days(job_settings: Callable[..., Settings]) -> None:
    job_settings(job_prune_after_days=3)
    four_days = await finished_job(Status.SUCCEEDED, days_ago=4)
    two_days = await finished_job(Status.SUCCEEDED, days_ago=2)

    await prune()

    assert await find_job(four_days) is None
    assert await find_job(two_days) is not None


# --- Purging tokens ---


def test_the_application_registers_the_accounts_token_purger(settings: Settings) -> None:
    job_tasks(settings)

    assert accounts.purge_expired_tokens in maintenance._purgers


@pytest.mark.usefixtures("committed_db")
async def test_purge_expired_tokens_runs_every_registered_purger() -> None:
    calls: list[str] = []

    async def purge_sessions() -> int:
        calls.append("sessions")
        return 2

    async def purge_invites() -> int:
        calls.append("invites")
        return 3

    maintenance.register_purger(purge_sessions)
    maintenance.register_purger(purge_invites)
    maintenance.register_purger(purge_sessions)  # registering twice runs it once
    try:
        job_id = await defer_by_name("maintenance:purge_expired_tokens", timestamp=int(time.time()))
        row = await run_until(job_id, "default")
    finally:
        maintenance._purgers.remove(purge_sessions)
        maintenance._purgers.remove(purge_invites)

    assert row.status == "succeeded"
    assert calls == ["sessions", "invites"]


# --- Crash safety ---

STALLED_TIMEOUT = 3  # seconds; the child sends a heartbeat every second


async def rescue() -> None:
    """One run of the periodic rescue job, through a worker on the default queue."""
    job_id = await defer_by_name("maintenance:rescue_stalled_jobs", timestamp=int(time.time()))
    assert (await run_until(job_id, "default")).status == "succeeded"


@pytest.mark.integration
@pytest.mark.usefixtures("committed_db")
async def test_a_job_whose_worker_was_killed_is_run_again_by_another_worker(
    tmp_path: Path, job_settings: Callable[..., Settings]
) -> None:
    job_settings(job_stalled_timeout=STALLED_TIMEOUT)  # the rescuer's setting, like the workers'
    env = {"JOB_STALLED_TIMEOUT": str(STALLED_TIMEOUT)}
    job_id = await defer_by_name(slow_tasks.task_name("sleep_first_time"), queue=slow_tasks.QUEUE, seconds=300)

    first = start_worker_process(tmp_path / "first.log", "--queues", slow_tasks.QUEUE, env=env)
    second = None
    try:
        await wait_for_state(job_id, "doing", worker=first)

        # While its worker is alive (heartbeats), a long job is not taken away from it.
        await asyncio.sleep(STALLED_TIMEOUT + 0.5)
        await rescue()
        assert (await job_row(job_id)).status == "doing"

        first.process.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL

        # No heartbeat any more: after the stall timeout, the rescue job queues it again.
        async def requeued() -> bool:
            await rescue()
            return (await job_row(job_id)).status == "todo"

        await eventually(requeued, within=30, message="the stalled job to be queued again", interval=0.5)
        assert (await job_row(job_id)).attempts == 1

        second = start_worker_process(tmp_path / "second.log", "--queues", slow_tasks.QUEUE, env=env)
        row = await wait_for_state(job_id, "succeeded", worker=second, within=60)
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert row.status == "succeeded"
