"""`myapp jobs list/retry/cancel` and `myapp worker`, run as real processes on this test worker's database.

The children inherit MYAPP_TEST_PARTITION, so they see the jobs this test committed.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from my_app import jobs, repo
from my_app.accounts import notifier
from tests.support import slow_tasks
from tests.support.jobs import (
    committed_db_fixture,  # noqa: F401 - fixture
    defer_by_name,
    job_row,
    run_until,
    run_worker,
    start_worker_process,
    wait_for_state,
)
from tests.support.processes import myapp, output_lines, plain

pytestmark = pytest.mark.usefixtures("committed_db")
TEST_ENV: dict[str, str | None] = {"MYAPP_ENV": "test"}


async def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(myapp, *args, env=TEST_ENV)


async def enqueue_email(type: str, *, schedule_in: timedelta | None = None) -> int:  # noqa: A002
    async with repo.transaction() as session:
        job_id = await jobs.enqueue(
            session, notifier.deliver_email, schedule_in=schedule_in, type=type, user_id=str(uuid.uuid4())
        )
    assert job_id is not None
    return job_id


async def failed_job() -> int:
    """A job that failed for good: an unknown email type is discarded after one run."""
    job_id = await enqueue_email("birthday")
    assert (await run_until(job_id, "emails")).status == "failed"
    return job_id


def row_of(output: str, job_id: int) -> str:
    """The table row of `job_id` in `myapp jobs list` output."""
    rows = [line for line in output_lines(output) if line.strip("│┃ ").split(" ", 1)[0] == str(job_id)]
    assert len(rows) == 1, f"no single row for job {job_id} in:\n{plain(output)}"
    return rows[0]


# --- list ---


async def test_list_failed_shows_failed_jobs_with_their_last_error() -> None:
    failed = await failed_job()
    waiting = await enqueue_email("welcome", schedule_in=timedelta(hours=1))

    result = await run_cli("jobs", "list", "--state", "failed")

    assert result.returncode == 0, result.stderr
    row = row_of(result.stdout, failed)
    assert "email:deliver_email" in row
    assert "failed" in row
    assert "discarded: unknown email type 'birthday'" in row
    assert str(waiting) not in [line.strip("│┃ ").split(" ", 1)[0] for line in output_lines(result.stdout)]


async def test_list_shows_every_state_without_a_filter() -> None:
    failed = await failed_job()
    waiting = await enqueue_email("welcome", schedule_in=timedelta(hours=1))

    result = await run_cli("jobs", "list")

    assert result.returncode == 0, result.stderr
    assert "failed" in row_of(result.stdout, failed)
    assert "todo" in row_of(result.stdout, waiting)


async def test_list_says_so_when_no_job_is_in_the_state() -> None:
    result = await run_cli("jobs", "list", "--state", "failed")

    assert result.returncode == 0, result.stderr
    assert "no jobs in state failed" in plain(result.stdout)


async def test_list_refuses_an_unknown_state() -> None:
    result = await run_cli("jobs", "list", "--state", "exploded")

    assert result.returncode != 0
    assert "must be one of" in plain(result.stderr)


# --- retry ---


async def test_retry_queues_a_failed_job_again() -> None:
    job_id = await failed_job()

    result = await run_cli("jobs", "retry", str(job_id))

    assert result.returncode == 0, result.stderr
    assert f"job {job_id} (email:deliver_email) is queued again" in plain(result.stdout)
    row = await job_row(job_id)
    assert row.status == "todo"
    assert row.scheduled_at is not None
    assert row.scheduled_at <= datetime.now(UTC)
    # It really runs again: one more attempt (discarded again, as its type is still unknown).
    await run_worker("emails")
    assert (await job_row(job_id)).status == "failed"


async def test_retry_refuses_a_job_that_has_not_failed() -> None:
    job_id = await enqueue_email("welcome", schedule_in=timedelta(hours=1))

    result = await run_cli("jobs", "retry", str(job_id))

    assert result.returncode != 0
    assert f"only failed jobs can be retried; job {job_id} is todo" in plain(result.stderr)
    assert (await job_row(job_id)).status == "todo"


# --- cancel ---


async def test_cancel_cancels_a_waiting_job() -> None:
    job_id = await enqueue_email("welcome")

    result = await run_cli("jobs", "cancel", str(job_id))

    assert result.returncode == 0, result.stderr
    assert f"job {job_id} (email:deliver_email) is cancelled" in plain(result.stdout)
    await run_worker("emails")
    row = await job_row(job_id)
    assert (row.status, row.attempts) == ("cancelled", 0)


async def test_cancel_refuses_a_finished_job() -> None:
    job_id = await failed_job()

    result = await run_cli("jobs", "cancel", str(job_id))

    assert result.returncode != 0
    assert f"only waiting or running jobs can be cancelled; job {job_id} is failed" in plain(result.stderr)


@pytest.mark.parametrize("command", ["retry", "cancel"])
async def test_an_unknown_job_id_is_a_clear_error(command: str) -> None:
    result = await run_cli("jobs", command, "987654321")

    assert result.returncode != 0
    assert "no such job: 987654321" in plain(result.stderr)
    assert "Traceback" not in result.stderr


# --- myapp worker: graceful stop ---


@pytest.mark.integration
async def test_sigterm_lets_the_running_job_finish_and_the_worker_exits_cleanly(tmp_path: Path) -> None:
    job_id = await defer_by_name(slow_tasks.task_name("sleep"), queue=slow_tasks.QUEUE, seconds=2)
    worker = start_worker_process(tmp_path / "worker.log", "--queues", slow_tasks.QUEUE)
    try:
        await wait_for_state(job_id, "doing", worker=worker)
        worker.process.send_signal(signal.SIGTERM)
        returncode = await asyncio.to_thread(worker.wait, 60)
    finally:
        worker.stop()

    assert returncode == 0, worker.output()
    row = await job_row(job_id)
    assert (row.status, row.attempts) == ("succeeded", 1), worker.output()


@pytest.mark.integration
async def test_a_job_still_running_at_the_shutdown_timeout_is_stopped_and_queued_again(tmp_path: Path) -> None:
    job_id = await defer_by_name(slow_tasks.task_name("sleep"), queue=slow_tasks.QUEUE, seconds=300)
    worker = start_worker_process(
        tmp_path / "worker.log", "--queues", slow_tasks.QUEUE, env={"JOB_SHUTDOWN_TIMEOUT": "1"}
    )
    try:
        await wait_for_state(job_id, "doing", worker=worker)
        worker.process.send_signal(signal.SIGTERM)
        returncode = await asyncio.to_thread(worker.wait, 60)
    finally:
        worker.stop()

    assert returncode == 0, worker.output()
    # Not lost: back in the queue for a later attempt (the task retries like the email worker).
    row = await job_row(job_id)
    assert (row.status, row.attempts) == ("todo", 1), worker.output()
