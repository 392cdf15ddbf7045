"""Periodic housekeeping (Oban's Pruner, Lifeline and Cron plugins), scheduled from settings.

- `prune_jobs`: delete finished jobs (and their error notes) older than JOB_PRUNE_AFTER_DAYS.
- `rescue_stalled_jobs`: a worker killed mid-job (SIGKILL, a lost machine) stops sending heartbeats;
  after JOB_STALLED_TIMEOUT its jobs are put back in the queue for another worker.
- `purge_expired_tokens`: runs every purger registered with `register_purger` (the application
  registers accounts' token purger).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import procrastinate
from procrastinate import Blueprint

from my_app import jobs
from my_app.config import Settings

logger = logging.getLogger(__name__)
blueprint = Blueprint()

Purger = Callable[[], Awaitable[int]]
_purgers: list[Purger] = []


def register_purger(purger: Purger) -> None:
    """Add a function that deletes expired records and returns how many (run by purge_expired_tokens)."""
    if purger not in _purgers:
        _purgers.append(purger)


@blueprint.task(name="prune_jobs", queue="default", pass_context=True)
async def prune_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
    """Delete succeeded, failed, cancelled and aborted jobs older than the retention period."""
    days = jobs.settings().job_prune_after_days
    await context.app.job_manager.delete_old_jobs(
        nb_hours=days * 24, include_failed=True, include_cancelled=True, include_aborted=True
    )
    logger.info("pruned finished jobs older than %d days", days)


@blueprint.task(name="rescue_stalled_jobs", queue="default", pass_context=True)
async def rescue_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Put back in the queue the jobs of workers whose heartbeat stopped."""
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=jobs.settings().job_stalled_timeout)
    count = 0
    for job in stalled:
        await manager.retry_job(job)
        logger.warning("job %s (%s) stalled: its worker died; queued again", job.id, job.task_name)
        count += 1
    return count


@blueprint.task(name="purge_expired_tokens", queue="default")
async def purge_expired_tokens(timestamp: int) -> int:
    """Delete expired tokens through every registered purger."""
    total = 0
    for purger in _purgers:
        total += await purger()
    return total


def periodic(settings: Settings) -> list[jobs.Periodic]:
    """The periodic jobs, with the cron expressions from settings (the application hands them to the queue).

    Examples:
        maintenance.periodic(settings)   # [Periodic(prune_jobs, "0 3 * * *"), Periodic(rescue_stalled_jobs, ...), ...]
    """
    return [
        jobs.Periodic(prune_jobs, cron=settings.job_cron_prune),
        jobs.Periodic(rescue_stalled_jobs, cron=settings.job_cron_retry_stalled),
        jobs.Periodic(purge_expired_tokens, cron=settings.job_cron_purge_tokens),
    ]
