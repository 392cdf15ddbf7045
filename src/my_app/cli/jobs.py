"""`myapp worker` and `myapp jobs ...`: run, list, show, retry and cancel jobs; see, pause and resume queues."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from my_app.cli._output import abort, console, info
from my_app.cli.db import current_settings, database_errors, run_in_app, target
from my_app.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from my_app import jobs

# `myapp --help` loads this module: the job queue (procrastinate), the application and rich's
# tables are imported inside the commands that use them.

T = TypeVar("T")
# my_app.jobs.JOB_STATES, for --state's help without importing the job queue (a test keeps them equal).
JOB_STATES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
app = typer.Typer(
    help="Inspect and manage background jobs (list, show, retry, cancel) and their queues (queues, pause, resume).",
    no_args_is_help=True,
)
_STATE_COLOURS = {"failed": "red", "succeeded": "green", "todo": "cyan", "doing": "yellow"}


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
    from my_app import application, jobs, log, metrics_export
    from my_app.cli._web import email_links

    settings = current_settings()
    # LOG_FORMAT and LOG_LEVEL as the server has them (JSON lines in prod): job starts and ends,
    # retries, PubSub and Presence events.
    log.configure(settings)
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
        stop_metrics_port = metrics_export.serve_metrics_port(settings, loop)  # METRICS_PORT: its metrics and jobs{}
        info(f"job worker running: {', '.join(f'{q}×{c}' for q, c in chosen.items())} (Ctrl-C to stop)")
        try:
            await stop.wait()
        finally:
            console.print("stopping: letting running jobs finish…")
            if stop_metrics_port is not None:
                stop_metrics_port()
            await running.stop()

    import uvloop  # the server's loop too (uvicorn's): ~10% less CPU per job (bench/README.md)

    with database_errors():
        uvloop.run(run())
    info("job worker stopped")


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help=f"Only jobs in this state: {', '.join(JOB_STATES)}.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only jobs of this queue (see `myapp jobs queues`).")] = None,
    retrying: Annotated[
        bool, typer.Option("--retrying", help="Only jobs waiting for a retry (an attempt failed; more are left).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List the newest jobs with their state, attempts and last error.

    Examples:

      myapp jobs list --state failed

      myapp jobs list --retrying

      myapp jobs list --queue emails --limit 20
    """
    from rich.table import Table

    from my_app import jobs

    found = _run(lambda: jobs.list_jobs(state=state, queue=queue, retrying=retrying, limit=limit))
    if not found:
        console.print(
            ("no jobs waiting for a retry" if retrying else "no jobs")
            + (f" on queue {queue}" if queue else "")
            + (f" in state {state}" if state else ""),
            highlight=False,
        )
        return
    table = Table("id", "queue", "task", "state", "attempts", "args", "last error", header_style="bold")
    for job in found:
        table.add_row(
            str(job.id), job.queue, job.task, _state(job.state), _attempts(job), str(job.args), job.last_error or ""
        )
    console.print(table)


@app.command()
def show(job_id: Annotated[int, typer.Argument(help="The job's id (see `myapp jobs list`).")]) -> None:
    """Show one job and the error of each failed attempt.

    Example: myapp jobs show 42
    """
    from rich.table import Table

    from my_app import jobs

    async def load() -> tuple[jobs.JobInfo, list[jobs.JobError]]:
        return await jobs.get_job(job_id), await jobs.job_errors(job_id)

    job, errors = _run(load)
    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold")
    details.add_column()
    for label, value in (
        ("job", str(job.id)),
        ("queue", job.queue),
        ("task", job.task),
        ("state", _state(job.state)),
        ("attempts", _attempts(job)),
        ("args", str(job.args)),
        ("scheduled at", f"{job.scheduled_at:%Y-%m-%d %H:%M:%S %Z}" if job.scheduled_at else "—"),
    ):
        details.add_row(label, value)
    console.print(details)
    if not errors:
        console.print("no failed attempt")
        return
    table = Table("attempt", "at", "error", header_style="bold")
    for error in errors:
        table.add_row(str(error.attempt), f"{error.at:%Y-%m-%d %H:%M:%S %Z}", error.error)
    console.print(table)


@app.command()
def queues() -> None:
    """List the queues: their jobs by state, how long the oldest due job has waited (waiting), whether paused.

    Example: myapp jobs queues
    """
    from rich import box
    from rich.table import Table

    from my_app import jobs

    stats = _run(jobs.queue_stats)
    if not stats:
        console.print("no queues")
        return
    # No side borders nor cell padding: the queue, six states, the wait and the pause fit in 80 columns.
    table = Table(box=box.SIMPLE_HEAD, padding=0, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("queue", no_wrap=True, min_width=max(len(queue.queue) for queue in stats))
    for state in jobs.JOB_STATES:
        table.add_column(state, justify="right", no_wrap=True)
    table.add_column("waiting", justify="right", no_wrap=True)
    table.add_column("paused", no_wrap=True)
    for queue in stats:
        table.add_row(
            queue.queue,
            *(str(queue.counts[state]) for state in jobs.JOB_STATES),
            _duration(queue.oldest_waiting),
            "[yellow]paused[/yellow]" if queue.paused else "no",
        )
    console.print(table)


@app.command()
def pause(queue: Annotated[str, typer.Argument(help="The queue's name (see `myapp jobs queues`).")]) -> None:
    """Stop fetching a queue's jobs on every node; running jobs finish, new ones wait. Holds across restarts.

    Example: myapp jobs pause emails
    """
    from my_app import jobs

    _run(lambda: jobs.pause_queue(queue))
    info(f"queue {queue} paused: its jobs wait until `myapp jobs resume {queue}`")


@app.command()
def resume(queue: Annotated[str, typer.Argument(help="The queue's name (see `myapp jobs queues`).")]) -> None:
    """Fetch a paused queue's jobs again, on every node.

    Example: myapp jobs resume emails
    """
    from my_app import jobs

    _run(lambda: jobs.resume_queue(queue))
    info(f"queue {queue} is running")


def _state(state: str) -> str:
    colour = _STATE_COLOURS.get(state, "magenta")
    return f"[{colour}]{state}[/{colour}]"


def _attempts(job: jobs.JobInfo) -> str:
    """`2`, or `2 of 3` when the task's retry strategy says how many runs it gets."""
    return f"{job.attempts} of {job.max_attempts}" if job.max_attempts else str(job.attempts)


def _duration(waited: timedelta | None) -> str:
    if waited is None:
        return "—"
    seconds = int(waited.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


@app.command()
def retry(job_id: Annotated[int, typer.Argument(help="The job's id (see `myapp jobs list`).")]) -> None:
    """Run a failed job again now.

    Example: myapp jobs retry 42
    """
    from my_app import jobs

    job = _run(lambda: jobs.retry_job(job_id))
    info(f"job {job.id} ({job.task}) is queued again")


@app.command()
def cancel(job_id: Annotated[int, typer.Argument(help="The job's id (see `myapp jobs list`).")]) -> None:
    """Cancel a waiting job, or stop a running one.

    Example: myapp jobs cancel 42
    """
    from my_app import jobs

    job = _run(lambda: jobs.cancel_job(job_id))
    info(f"job {job.id} ({job.task}) is {job.state}")


def _run(action: Callable[[], Awaitable[T]]) -> T:
    try:
        return run_in_app(action)
    except NotFoundError as exc:
        abort(f"no such job: {exc.identifier}")
    except ValidationError as exc:
        abort("; ".join(message for messages in exc.errors.values() for message in messages))
