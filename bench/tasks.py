"""The benchmarks' procrastinate tasks (a module of their own: procrastinate warns about `__main__`)."""

from __future__ import annotations

from procrastinate import Blueprint

QUEUE = "bench"
NAMESPACE = "bench"
TASK_NAME = f"{NAMESPACE}:noop"

blueprint = Blueprint()


@blueprint.task(name="noop", queue=QUEUE)
async def noop(n: int) -> None:
    """Do nothing: the benchmark measures the queue, not the work."""
