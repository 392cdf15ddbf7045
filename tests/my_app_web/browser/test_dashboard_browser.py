"""The ops dashboard in Chromium: a job that failed is listed with its error; the admin presses Retry
on the page, a real worker runs the job again, and the page shows it gone from the failed jobs and
counted as succeeded, without a reload. Screenshots at 1200 and 390 px."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from my_app import application
from tests.support import slow_tasks
from tests.support.browser import BrowserUser, log_in, screenshot
from tests.support.jobs import defer_by_name, execute, start_worker_process, wait_for_state

ERROR = "the payment provider timed out"
# The dashboard re-renders on its node's stats tick (every 2 s); a busy CI runner gets room.
TICK_WITHIN_MS = 15_000


async def truncate_jobs() -> None:
    # Not procrastinate_workers: the live server's own job workers are registered there.
    await execute(
        "TRUNCATE job_errors, procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs CASCADE"
    )


@pytest.fixture
async def empty_job_tables(started_app: application.Application, app_server: str) -> AsyncIterator[None]:
    await truncate_jobs()
    try:
        yield
    finally:
        await truncate_jobs()


async def wait_until_live(page: Page) -> None:
    """Until the page's live stream is open (htmx's SSE extension keeps its EventSource on the element)."""
    await page.wait_for_function(
        "() => { const el = document.querySelector('[sse-connect]');"
        " const data = el && el['htmx-internal-data'];"
        " return !!(data && data.sseEventSource && data.sseEventSource.readyState === 1) }"
    )


async def test_an_admin_retries_a_failed_job_from_the_dashboard_and_sees_it_succeed(
    page: Page, admin_user: BrowserUser, empty_job_tables: None, tmp_path: Path
) -> None:
    job_id = await defer_by_name(slow_tasks.task_name("fail_first_time"), queue=slow_tasks.QUEUE, error=ERROR)
    # A real `myapp worker` on the queue: it runs the job (which fails), and later its retry.
    worker = start_worker_process(tmp_path / "worker.log", "--queues", slow_tasks.QUEUE)
    try:
        await wait_for_state(job_id, "failed", worker=worker)
        await log_in(page, admin_user.email, admin_user.password)
        await page.goto("/admin/dashboard")
        await wait_until_live(page)

        failed = page.locator(f"#failed-job-{job_id}")
        await expect(failed).to_contain_text("test:fail_first_time")
        await expect(failed.locator(".failed-job-error")).to_have_text(f"RuntimeError: {ERROR}")
        await expect(page.locator("#queue-slow td[data-label='Failed']")).to_have_text("1")
        # The nodes table lists the live server (and the worker, and this test process: each is a node).
        await expect(page.locator("#dashboard-nodes tbody tr").first).to_be_visible()
        for path in await screenshot(page, "admin-dashboard-failed-job"):
            assert path.stat().st_size > 10_000
        await page.set_viewport_size({"width": 1200, "height": 800})
        await page.evaluate("window.dashboardNotReloaded = true")  # gone if the page reloads

        await failed.get_by_role("button", name=f"Retry job {job_id}").click()

        await expect(page.locator("#flash-info")).to_contain_text(f"Job {job_id} will run again.")
        await expect(failed).to_have_count(0)
        await wait_for_state(job_id, "succeeded", worker=worker)
        await expect(page.locator("#queue-slow td[data-label='Succeeded']")).to_have_text("1", timeout=TICK_WITHIN_MS)
        await expect(page.locator("#queue-slow td[data-label='Failed']")).to_have_text("0")
        await expect(page.locator("#dashboard-failed")).to_contain_text("No failed jobs.")
        assert await page.evaluate("window.dashboardNotReloaded") is True
        await screenshot(page, "admin-dashboard")
    finally:
        worker.stop()
