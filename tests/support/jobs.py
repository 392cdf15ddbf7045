"""Job-queue tests on committed data: a clean database, worker passes and bounded waits.

A job enqueued in the `db` sandbox is uncommitted, so procrastinate's own pool (and any worker)
never sees it. Tests that run jobs therefore commit for real and use `committed_db`, which empties
the users and job tables before and after the test. Each pytest-xdist worker has its own database
and runs its tests one at a time, so this never touches another test's data.

A test module imports the fixtures it uses from here (`from tests.support.jobs import
committed_db_fixture`), then asks for them by name (`committed_db`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from my_app import application, jobs, repo
from my_app.config import Settings
from tests.support import slow_tasks

PROJECT_ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")

_TABLES = "users, job_errors, job_queue_pauses, procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs"
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "aborted"})


async def truncate() -> None:
    """Empty the users and job tables (CASCADE: and whatever refers to them)."""
    async with repo.engine().begin() as connection:
        await connection.execute(text(f"TRUNCATE {_TABLES}, procrastinate_workers CASCADE"))


@pytest.fixture(name="committed_db")
async def committed_db_fixture(started_app: application.Application) -> AsyncIterator[None]:
    """The test commits for real; users and jobs are wiped before and after it."""
    await truncate()
    try:
        yield
    finally:
        await truncate()


@pytest.fixture(name="job_settings")
def job_settings_fixture(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Change the settings the job queue reads (`jobs.settings()`) for this test only.

    `job_settings(job_backoff_base=0)` makes retries due at once.
    """

    def change(**updates: Any) -> Settings:
        changed = settings.model_copy(update=updates)
        queue = jobs.running.value
        if queue is not None:
            monkeypatch.setattr(queue, "settings", changed)
        else:  # no app is running: the queue reads the process-wide settings
            monkeypatch.setattr(jobs, "get_settings", lambda: changed)
        return changed

    return change


@pytest.fixture(name="retry_at_once")
def retry_at_once_fixture(job_settings: Callable[..., Settings]) -> Settings:
    """Retries are due at once (JOB_BACKOFF_BASE=0), so a worker pass can run them."""
    return job_settings(job_backoff_base=0)


@pytest.fixture(name="restore_mailer")
def restore_mailer_fixture(settings: Settings) -> Iterator[None]:
    """A test may point the mailer elsewhere (`mailer.running.holding`); what it used comes back after."""
    from my_app import mailer

    mailer.test_adapter.clear()
    try:
        with mailer.running.holding(mailer.running.value):
            yield
    finally:
        mailer.test_adapter.clear()


# --- Running jobs ---


async def run_worker(*queues: str) -> None:
    """One worker pass in this process: run every job that is due on `queues`, then return."""
    await jobs.procrastinate_app.run_worker_async(
        queues=list(queues),
        wait=False,
        install_signal_handlers=False,
        listen_notify=False,
        worker_middleware=[jobs.record_outcome],
        delete_jobs="never",
    )


async def run_until(job_id: int, *queues: str, states: frozenset[str] = FINAL_STATES, within: float = 30) -> JobRow:
    """Worker passes on `queues` until the job reaches one of `states`; fails after `within` seconds."""

    async def settled() -> JobRow | None:
        await run_worker(*queues)
        row = await job_row(job_id)
        return row if row.status in states else None

    return await eventually(settled, within=within, message=f"job {job_id} to reach one of {sorted(states)}")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float, message: str, interval: float = 0.05
) -> T:
    """Call `probe` until it returns something other than None/False; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {message}")
        await asyncio.sleep(interval)


# --- Reading the queue's tables ---


@dataclass(frozen=True)
class JobRow:
    id: int
    task_name: str
    queue_name: str
    status: str
    attempts: int
    args: dict[str, Any]
    scheduled_at: datetime | None


_JOB_BY_ID = (
    "SELECT id, task_name, queue_name, status::text, attempts, args, scheduled_at FROM procrastinate_jobs"
    " WHERE id = :id"
)
_JOBS_OF_TASK = (
    "SELECT id, task_name, queue_name, status::text, attempts, args, scheduled_at FROM procrastinate_jobs"
    " WHERE task_name = :task ORDER BY id"
)


async def job_row(job_id: int) -> JobRow:
    """The job's row; fails the test when it does not exist."""
    row = await find_job(job_id)
    assert row is not None, f"job {job_id} does not exist"
    return row


async def find_job(job_id: int) -> JobRow | None:
    async with repo.transaction() as session:
        result = await session.execute(text(_JOB_BY_ID), {"id": job_id})
        row = result.first()
    return JobRow(*row) if row is not None else None


async def jobs_of(task_name: str) -> list[JobRow]:
    """Every job of this task, oldest first (other tasks, e.g. periodic ones, are left out)."""
    async with repo.transaction() as session:
        result = await session.execute(
            text(_JOBS_OF_TASK),
            {"task": task_name},
        )
        return [JobRow(*row) for row in result]


async def job_errors(job_id: int) -> list[tuple[int, str]]:
    """The (attempt, error) notes kept for a job, in order."""
    async with repo.transaction() as session:
        result = await session.execute(
            text("SELECT attempt, error FROM job_errors WHERE job_id = :id ORDER BY id"), {"id": job_id}
        )
        return [(int(attempt), str(error)) for attempt, error in result]


async def execute(sql: str, **params: Any) -> None:
    """Run one statement and commit it."""
    async with repo.transaction() as session:
        await session.execute(text(sql), params)


async def defer_by_name(task_name: str, *, queue: str | None = None, **args: Any) -> int:
    """Defer a job by its task's name (the task may be known only to a worker process); committed."""
    options: dict[str, Any] = {"queue": queue} if queue else {}
    return int(await jobs.procrastinate_app.configure_task(name=task_name, **options).defer_async(**args))


# --- Worker processes ---


@dataclass
class WorkerProcess:
    """A `myapp worker` child process that also knows the test tasks of `tests.support.slow_tasks`."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker did not exit within {timeout}s; its output:\n{self.output()}") from None

    def stop(self) -> None:
        """Make sure the process is gone (test clean-up)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)


def start_worker_process(log: Path, *args: str, env: Mapping[str, str] | None = None) -> WorkerProcess:
    """Start `myapp worker <args>` (with the test tasks) on this pytest worker's database.

    The child inherits MYAPP_TEST_PARTITION (this pytest worker's database) and the embedded
    server's URL, so it sees the same data as the test; its output goes to `log`.
    """
    python_path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "MYAPP_ENV": "test", "PYTHONPATH": python_path, "NO_COLOR": "1", **(env or {})}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", slow_tasks.RUN_SCRIPT, *args],
            cwd=PROJECT_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(process, log)


async def wait_for_state(job_id: int, state: str, *, worker: WorkerProcess | None = None, within: float = 60) -> JobRow:
    """Wait until the job is in `state`; fails early (with its output) if `worker` dies meanwhile."""

    async def reached() -> JobRow | None:
        row = await job_row(job_id)
        if row.status == state:
            return row
        if worker is not None and not worker.alive():
            raise AssertionError(
                f"the worker exited ({worker.process.returncode}) before job {job_id} was {state};"
                f" its output:\n{worker.output()}"
            )
        return None

    try:
        return await eventually(reached, within=within, message=f"job {job_id} to be {state}", interval=0.1)
    except AssertionError as exc:
        if worker is None or "timed out" not in str(exc):
            raise
        row = await job_row(job_id)
        raise AssertionError(f"{exc} (it is {row.status}); the worker's output:\n{worker.output()}") from None
