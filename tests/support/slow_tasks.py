"""Test-only tasks that take their time, and a `myapp worker` that can run them (for worker processes).

Run a worker with these tasks in a child process:

    python -c "from tests.support.slow_tasks import main; main()" --queues slow

`main()` adds the `test:` tasks to the app, then runs the real `myapp worker` command with the given
arguments, so the child stops (SIGTERM) exactly as a production worker does.
"""

from __future__ import annotations

import asyncio
import sys

import procrastinate
from procrastinate import Blueprint

from my_app.jobs import Backoff

NAMESPACE = "test"
QUEUE = "slow"
RUN_SCRIPT = "from tests.support.slow_tasks import main; main()"

blueprint = Blueprint()


@blueprint.task(name="sleep_first_time", queue=QUEUE, pass_context=True)
async def sleep_first_time(context: procrastinate.JobContext, *, seconds: float) -> str:
    """Sleeps `seconds` on its first run (long enough to be killed); later runs return at once."""
    if context.job.attempts == 0:
        await asyncio.sleep(seconds)
        return "slept"
    return "ran again"


@blueprint.task(name="sleep", queue=QUEUE, retry=Backoff(max_attempts=3))
async def sleep(*, seconds: float) -> str:
    """Sleeps `seconds`, then succeeds; retried like the email worker when it is cut short."""
    await asyncio.sleep(seconds)
    return "done"


@blueprint.task(name="fail_first_time", queue=QUEUE, pass_context=True)
async def fail_first_time(context: procrastinate.JobContext, *, error: str) -> str:
    """Fails its first run with `error` (no automatic retry: the job ends `failed`); a retry succeeds."""
    if context.job.attempts == 0:
        raise RuntimeError(error)
    return "ran again"


def task_name(name: str) -> str:
    return f"{NAMESPACE}:{name}"


def main() -> None:
    """`myapp worker <args>`, with the test tasks registered."""
    from my_app import jobs
    from my_app.cli import main as cli_main

    jobs.procrastinate_app.add_tasks_from(blueprint, namespace=NAMESPACE)
    sys.argv = ["myapp", "worker", *sys.argv[1:]]
    cli_main()
