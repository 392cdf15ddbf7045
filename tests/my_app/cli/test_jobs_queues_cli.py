"""`myapp jobs queues/pause/resume/show` and `list --queue`, run as real processes on this test worker's database."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from my_app import jobs, repo
from my_app.accounts import notifier
from tests.support import slow_tasks
from tests.support.jobs import (
    committed_db_fixture,  # noqa: F401 - fixture
    defer_by_name,
    execute,
    run_until,
)
from tests.support.processes import myapp, output_lines, plain

pytestmark = pytest.mark.usefixtures("no_pauses")
TEST_ENV: dict[str, str | None] = {"MYAPP_ENV": "test"}


@pytest.fixture(name="no_pauses")
async def no_pauses_fixture(committed_db: None) -> AsyncIterator[None]:
    await execute("DELETE FROM job_queue_pauses")
    try:
        yield
    finally:
        await execute("DELETE FROM job_queue_pauses")


async def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(myapp, *args, env=TEST_ENV)


async def enqueue_email(type: str, *, schedule_in: timedelta | None = None) -> int:  # noqa: A002
    async with repo.transaction() as session:
        job_id = await jobs.enqueue(
            session, notifier.deliver_email, schedule_in=schedule_in, type=type, user_id=str(uuid.uuid4())
        )
    assert job_id is not None
    return job_id


def cells(output: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first`."""
    rows = [line.strip("│┃ ").replace("│", " ").split() for line in output_lines(output)]
    found = [row for row in rows if row and row[0] == first]
    assert len(found) == 1, f"no single row {first!r} in:\n{plain(output)}"
    return found[0]


# --- queues ---


async def test_queues_lists_each_queue_with_its_counts_by_state_and_pause() -> None:
    failed = await enqueue_email("birthday")  # discarded: failed after one run
    await run_until(failed, "emails")
    for _ in range(2):
        await enqueue_email("welcome", schedule_in=timedelta(hours=1))
    await execute("INSERT INTO job_queue_pauses (queue) VALUES ('emails')")

    result = await run_cli("jobs", "queues")

    assert result.returncode == 0, result.stderr
    header = cells(result.stdout, "queue")
    assert header == ["queue", *jobs.JOB_STATES, "waiting", "paused"]
    # todo doing succeeded failed cancelled aborted, nothing due, paused
    assert cells(result.stdout, "emails") == ["emails", "2", "0", "0", "1", "0", "0", "—", "paused"]
    # (The worker pass may have deferred a periodic maintenance job on default.)
    assert cells(result.stdout, "default")[-1] == "no"


async def test_queues_show_how_long_the_oldest_due_job_has_waited() -> None:
    await enqueue_email("welcome", schedule_in=timedelta(minutes=-5))

    result = await run_cli("jobs", "queues")

    assert result.returncode == 0, result.stderr
    waited = cells(result.stdout, "emails")[-2]
    assert waited.startswith("5m"), plain(result.stdout)


# --- pause / resume ---


async def test_pause_then_resume_a_queue() -> None:
    paused = await run_cli("jobs", "pause", "emails")

    assert paused.returncode == 0, paused.stderr
    assert "queue emails paused: its jobs wait until `myapp jobs resume emails`" in plain(paused.stdout)
    assert await jobs.paused_queues() == {"emails"}
    assert cells((await run_cli("jobs", "queues")).stdout, "emails")[-1] == "paused"

    resumed = await run_cli("jobs", "resume", "emails")

    assert resumed.returncode == 0, resumed.stderr
    assert "queue emails is running" in plain(resumed.stdout)
    assert await jobs.paused_queues() == set()


@pytest.mark.parametrize("command", ["pause", "resume"])
async def test_an_unknown_queue_is_a_clear_error(command: str) -> None:
    result = await run_cli("jobs", command, "emials")

    assert result.returncode != 0
    lines = output_lines(plain(result.stderr))
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: unknown queue 'emials'; known queues: ")
    assert "emails" in lines[0]
    assert await jobs.paused_queues() == set()


# --- list --queue ---


async def test_list_shows_only_the_jobs_of_the_queue() -> None:
    email = await enqueue_email("welcome", schedule_in=timedelta(hours=1))
    slow = await defer_by_name(slow_tasks.task_name("sleep"), queue=slow_tasks.QUEUE, seconds=0)

    result = await run_cli("jobs", "list", "--queue", "emails")

    assert result.returncode == 0, result.stderr
    ids = [line.strip("│┃ ").split(" ", 1)[0] for line in output_lines(result.stdout)]
    assert str(email) in ids
    assert str(slow) not in ids
    # Attempts so far, of the three the email task gets.
    assert "emails email:deliver_email todo 0 of 3" in " ".join(cells(result.stdout, str(email)))


async def test_list_says_so_when_the_queue_has_no_job() -> None:
    result = await run_cli("jobs", "list", "--queue", "emails", "--state", "failed")

    assert result.returncode == 0, result.stderr
    assert "no jobs on queue emails in state failed" in plain(result.stdout)


async def test_list_retrying_shows_only_the_jobs_waiting_for_a_retry() -> None:
    waiting = await enqueue_email("welcome", schedule_in=timedelta(hours=1))
    retrying = await enqueue_email("welcome", schedule_in=timedelta(hours=1))
    # Its first attempt failed (what the worker's middleware records); it waits for the next.
    await execute(
        "INSERT INTO job_errors (job_id, attempt, error) VALUES (:job_id, 1, 'SMTPServerDisconnected: gone')",
        job_id=retrying,
    )

    result = await run_cli("jobs", "list", "--retrying")

    assert result.returncode == 0, result.stderr
    ids = [line.strip("│┃ ").split(" ", 1)[0] for line in output_lines(result.stdout)]
    assert str(retrying) in ids
    assert str(waiting) not in ids
    assert "SMTPServerDisconnected: gone" in plain(result.stdout)


# --- show ---


async def test_show_prints_the_job_and_each_failed_attempt() -> None:
    job_id = await enqueue_email("birthday")
    await run_until(job_id, "emails")

    result = await run_cli("jobs", "show", str(job_id))

    assert result.returncode == 0, result.stderr
    text = plain(result.stdout)
    assert cells(text, "job") == ["job", str(job_id)]
    assert cells(text, "queue") == ["queue", "emails"]
    assert cells(text, "state") == ["state", "failed"]
    assert cells(text, "attempts") == ["attempts", "1", "of", "3"]
    attempt = cells(text, "1")
    assert attempt[-5:] == ["discarded:", "unknown", "email", "type", "'birthday'"]


async def test_show_says_so_when_no_attempt_failed() -> None:
    job_id = await enqueue_email("welcome", schedule_in=timedelta(hours=1))

    result = await run_cli("jobs", "show", str(job_id))

    assert result.returncode == 0, result.stderr
    assert cells(result.stdout, "state") == ["state", "todo"]
    assert "no failed attempt" in plain(result.stdout)


async def test_show_an_unknown_job_is_a_clear_error() -> None:
    result = await run_cli("jobs", "show", "987654321")

    assert result.returncode != 0
    assert output_lines(plain(result.stderr)) == ["error: no such job: 987654321"]
