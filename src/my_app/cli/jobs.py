"""`myapp worker` and `myapp jobs ...`: run, list, retry and cancel background jobs."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from my_app import application, jobs
from my_app.cli._output import abort, console, info
from my_app.cli._web import email_links
from my_app.cli.db import database_errors, run_in_app, target
from my_app.config import get_settings
from my_app.errors import NotFoundError, ValidationError

T = TypeVar("T")
app = typer.Typer(help="Inspect and manage background jobs: list, retry, cancel.", no_args_is_help=True)


def worker(
    queues: Annotated[
        str | None, typer.Option(help="Queues to run, e.g. emails,default or emails:10 (default: JOB_QUEUES).")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Jobs at once per queue (overrides).")] = None,
) -> None:
    """Run the job workers without the web server (mix run --no-halt). SIGTERM lets running jobs finish.

    Examples:

      myapp worker

      myapp worker --queues emails --concurrency 20
    """
    settings = get_settings()
    try:
        chosen = jobs.parse_queues(queues or settings.job_queues)
    except ValueError as exc:
        abort(str(exc))
    if concurrency is not None:
        chosen = dict.fromkeys(chosen, concurrency)
    target(settings)  # start the embedded PostgreSQL if needed, with a clear error if unreachable

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        running = application.Application.build(settings, run_jobs=True, queues=chosen, links=email_links(settings))
        await running.start()
        info(f"job worker running: {', '.join(f'{q}×{c}' for q, c in chosen.items())} (Ctrl-C to stop)")
        try:
            await stop.wait()
        finally:
            console.print("stopping: letting running jobs finish…")
            await running.stop()

    with database_errors():
        asyncio.run(run())
    info("job worker stopped")


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help=f"Only jobs in this state: {', '.join(jobs.JOB_STATES)}.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List the newest jobs with their state, attempts and last error.

    Example: myapp jobs list --state failed
    """
    found = _run(lambda: jobs.list_jobs(state=state, limit=limit))
    if not found:
        console.print("no jobs" + (f" in state {state}" if state else ""))
        return
    table = Table("id", "queue", "task", "state", "attempts", "args", "last error", header_style="bold")
    colours = {"failed": "red", "succeeded": "green", "todo": "cyan", "doing": "yellow"}
    for job in found:
        colour = colours.get(job.state, "magenta")
        table.add_row(
            str(job.id),
            job.queue,
            job.task,
            f"[{colour}]{job.state}[/{colour}]",
            str(job.attempts),
            str(job.args),
            job.last_error or "",
        )
    console.print(table)


@app.command()
def retry(job_id: Annotated[int, typer.Argument(help="The job's id (see `myapp jobs list`).")]) -> None:
    """Run a failed job again now.

    Example: myapp jobs retry 42
    """
    job = _run(lambda: jobs.retry_job(job_id))
    info(f"job {job.id} ({job.task}) is queued again")


@app.command()
def cancel(job_id: Annotated[int, typer.Argument(help="The job's id (see `myapp jobs list`).")]) -> None:
    """Cancel a waiting job, or stop a running one.

    Example: myapp jobs cancel 42
    """
    job = _run(lambda: jobs.cancel_job(job_id))
    info(f"job {job.id} ({job.task}) is {job.state}")


def _run(action: Callable[[], Awaitable[T]]) -> T:
    try:
        return run_in_app(action)
    except NotFoundError as exc:
        abort(f"no such job: {exc.identifier}")
    except ValidationError as exc:
        abort("; ".join(message for messages in exc.errors.values() for message in messages))
