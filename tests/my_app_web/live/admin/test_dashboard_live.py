"""The ops dashboard (/admin/dashboard): who may see it, what it shows (this node, a failed job with
every attempt's error), its buttons as plain form POSTs (retry, cancel, pause, resume), and what its
live stream pushes on a stats tick."""

from __future__ import annotations

import html as html_module
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import application, jobs, node_stats, pubsub
from my_app.config import Settings
from my_app_web.controllers.dev_mailbox import mount_dev_routes
from my_app_web.endpoint import create_app
from my_app_web.live.admin.dashboard_live.page import FAILED_SHOWN, load_jobs
from tests.my_app_web.live.admin.pages import csrf
from tests.support import slow_tasks
from tests.support.browser_forms import csrf_token_in, log_in
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import user_fixture
from tests.support.jobs import (
    committed_db_fixture,  # noqa: F401 - fixture
    defer_by_name,
    execute,
    job_row,
    run_until,
)
from tests.support.live_case import live_stream
from tests.support.query_count import count_queries
from tests.support.slow_queries import empty_slow_query_log_fixture  # noqa: F401 - fixture

INDEX = "/admin/dashboard"
ERROR = "the mail server said no"


def text_of(html: str) -> str:
    """The page's text as a reader sees it: tags out, entities decoded, spaces collapsed."""
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def section(html: str, name: str) -> str:
    """The HTML of one section of the dashboard (`<section id="dashboard-<name>">`)."""
    match = re.search(rf'<section id="dashboard-{name}".*?</section>', html, re.S)
    assert match is not None, f"no {name} section"
    return match.group(0)


async def report() -> node_stats.Snapshot:
    """This node reports now (as it does every 2 s): the dashboard has a snapshot to show."""
    child = application.current().child(application.NodeStatsChild)
    assert child is not None
    assert child.reporter is not None
    return await child.reporter.report()


# --- Who may see it ---


async def test_a_visitor_is_sent_to_log_in_and_comes_back(client: httpx.AsyncClient) -> None:
    admin = await user_fixture(role="admin")

    response = await client.get(INDEX)

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"
    assert (await log_in(client, admin.email)).headers["location"] == INDEX


async def test_a_user_who_is_not_an_admin_gets_403_for_the_page_and_every_button(client: httpx.AsyncClient) -> None:
    await log_in(client, (await user_fixture()).email)
    token = await csrf(client, "/")

    assert (await client.get(INDEX)).status_code == 403
    for path in [
        f"{INDEX}/queues/default/pause",
        f"{INDEX}/queues/default/resume",
        f"{INDEX}/jobs/1/retry",
        f"{INDEX}/jobs/1/cancel",
    ]:
        assert (await client.post(path, data={"_csrf_token": token})).status_code == 403, path


async def test_the_live_stream_refuses_the_same_way(web_app: FastAPI, client: httpx.AsyncClient) -> None:
    async with live_stream(web_app, client, INDEX) as stream:
        with pytest.raises(EOFError):
            await stream.next_event()
        assert stream.status == 303
    await log_in(client, (await user_fixture()).email)
    async with live_stream(web_app, client, INDEX) as stream:
        with pytest.raises(EOFError):
            await stream.next_event()
        assert stream.status == 403


async def test_a_button_without_the_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    await log_in(client, (await user_fixture(role="admin")).email)

    assert (await client.post(f"{INDEX}/queues/default/pause", data={})).status_code == 403


async def test_the_dev_dashboard_is_not_served_outside_dev(client: httpx.AsyncClient) -> None:
    assert (await client.get("/dev/dashboard")).status_code == 404


async def test_in_dev_the_dashboard_and_its_buttons_need_no_log_in(settings: Settings, db: AsyncConnection) -> None:
    app = create_app(settings, start_application=False)
    mount_dev_routes(app, settings.model_copy(update={"env": "dev"}))
    async with client_for(app) as visitor:
        html = (await visitor.get("/dev/dashboard")).text
        assert "Every node of the app and the job queues" in text_of(html)
        assert 'class="admin-nav"' not in html
        assert 'action="/dev/dashboard/queues/default/pause"' in html

        response = await visitor.post("/dev/dashboard/queues/default/pause", data={"_csrf_token": csrf_token_in(html)})

        assert response.status_code == 303
        assert response.headers["location"] == "/dev/dashboard"
        page = text_of((await visitor.get("/dev/dashboard")).text)
        assert "Queue default paused" in page
        await visitor.post("/dev/dashboard/queues/default/resume", data={"_csrf_token": csrf_token_in(html)})
        assert "Queue default resumed." in text_of((await visitor.get("/dev/dashboard")).text)


# --- What it shows ---


async def test_shows_this_node_its_pool_and_the_admin_navigation(client: httpx.AsyncClient) -> None:
    await log_in(client, (await user_fixture(role="admin")).email)
    await client.get("/")  # a request for the overview to count
    me = await report()

    html = (await client.get(INDEX)).text

    assert re.search(r'<a href="/admin/dashboard" aria-current="page">Dashboard</a>', html)
    nodes = text_of(section(html, "nodes"))
    assert f"{me.node[:8]} this node {me.pid} {me.host}" in nodes
    overview = text_of(section(html, "overview"))
    assert re.search(r"Nodes \d+ Requests/s [\d.]+ Latency p50 ", overview)
    pool = text_of(section(html, "pool"))
    assert f"of {me.pool_size}" in pool
    assert "<svg" in section(html, "charts")


async def test_the_other_admin_pages_link_to_the_dashboard(client: httpx.AsyncClient) -> None:
    await log_in(client, (await user_fixture(role="admin")).email)

    html = (await client.get("/admin/categories")).text

    assert '<a href="/admin/dashboard">Dashboard</a>' in html


@pytest.mark.usefixtures("empty_slow_query_log")
async def test_shows_the_slowest_recent_queries(client: httpx.AsyncClient) -> None:
    await log_in(client, (await user_fixture(role="admin")).email)
    await execute("SELECT pg_sleep(0.12) AS dashboard_slow_query_test")
    await report()

    queries = text_of(section((await client.get(INDEX)).text, "queries"))

    assert "dashboard_slow_query_test" in queries


# --- Jobs: these commit (procrastinate's own pool retries and cancels), so they start a clean database ---


@pytest.fixture
async def admin_client(committed_db: None, web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as an admin, committed for real (the job tables are too)."""
    jobs.register_tasks({slow_tasks.NAMESPACE: slow_tasks.blueprint})
    admin = await user_fixture(role="admin", name="Ops")
    async with client_for(web_app) as client:
        assert (await log_in(client, admin.email)).status_code == 303
        yield client


async def failed_job() -> int:
    """A job whose first run failed with ERROR (no automatic retry: it is `failed`)."""
    job_id = await defer_by_name(slow_tasks.task_name("fail_first_time"), queue=slow_tasks.QUEUE, error=ERROR)
    assert (await run_until(job_id, slow_tasks.QUEUE)).status == "failed"
    return job_id


async def post(client: httpx.AsyncClient, path: str) -> httpx.Response:
    """Press a dashboard button as a browser without JavaScript: the form's POST, then its redirect."""
    response = await client.post(path, data={"_csrf_token": await csrf(client, INDEX)})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == INDEX
    return await client.get(INDEX)


async def test_a_failed_job_shows_with_its_task_queue_attempts_and_every_error(admin_client: httpx.AsyncClient) -> None:
    job_id = await failed_job()

    failed = text_of(section((await admin_client.get(INDEX)).text, "failed"))

    assert f"test:fail_first_time Job {job_id} Queue slow attempt 1 of 1 failed" in failed
    assert f"RuntimeError: {ERROR}" in failed
    assert "Every attempt's error Attempt 1" in failed
    queues = text_of(section((await admin_client.get(INDEX)).text, "queues"))
    assert re.search(r"slow 0 0 0 1 0 0 Pause", queues)


async def test_retry_runs_the_failed_job_again_and_it_leaves_the_failed_list(admin_client: httpx.AsyncClient) -> None:
    job_id = await failed_job()

    page = await post(admin_client, f"{INDEX}/jobs/{job_id}/retry")

    assert f"Job {job_id} will run again." in text_of(page.text)
    assert (await job_row(job_id)).status == "todo"
    assert (await run_until(job_id, slow_tasks.QUEUE)).status == "succeeded"
    html = (await admin_client.get(INDEX)).text
    assert "No failed jobs." in text_of(section(html, "failed"))
    assert re.search(r"slow 0 0 1 0 0 0", text_of(section(html, "queues")))


async def test_retrying_a_job_that_has_not_failed_says_so(admin_client: httpx.AsyncClient) -> None:
    job_id = await failed_job()
    await post(admin_client, f"{INDEX}/jobs/{job_id}/retry")

    page = await post(admin_client, f"{INDEX}/jobs/{job_id}/retry")  # a second click: it waits to run

    assert f"Job {job_id} has not failed: only failed jobs can be retried." in text_of(page.text)
    unknown = await post(admin_client, f"{INDEX}/jobs/999999999/retry")
    assert "Job 999999999 no longer exists." in text_of(unknown.text)


async def test_a_job_id_out_of_range_is_a_bad_request_not_a_database_error(admin_client: httpx.AsyncClient) -> None:
    token = await csrf(admin_client, INDEX)

    for action in ("retry", "cancel"):
        response = await admin_client.post(f"{INDEX}/jobs/{2**64}/{action}", data={"_csrf_token": token})
        assert response.status_code == 400, action


async def test_cancel_stops_a_job_waiting_for_its_retry(admin_client: httpx.AsyncClient) -> None:
    job_id = await defer_by_name(slow_tasks.task_name("fail_first_time"), queue=slow_tasks.QUEUE, error=ERROR)
    # Its first attempt failed and its retry is due in an hour (what Backoff does to a failed attempt).
    await execute(
        "UPDATE procrastinate_jobs SET attempts = 1, scheduled_at = now() + interval '1 hour' WHERE id = :id", id=job_id
    )
    await execute("INSERT INTO job_errors (job_id, attempt, error) VALUES (:id, 1, :error)", id=job_id, error=ERROR)
    assert "will retry" in text_of(section((await admin_client.get(INDEX)).text, "failed"))

    page = await post(admin_client, f"{INDEX}/jobs/{job_id}/cancel")

    assert f"Job {job_id} cancelled." in text_of(page.text)
    assert (await job_row(job_id)).status == "cancelled"
    assert "No failed jobs." in text_of(section(page.text, "failed"))


async def test_pause_and_resume_a_queue(admin_client: httpx.AsyncClient) -> None:
    await failed_job()  # the queue `slow` has a job: it is listed

    paused = await post(admin_client, f"{INDEX}/queues/{slow_tasks.QUEUE}/pause")

    assert "Queue slow paused: its jobs wait until it is resumed." in text_of(paused.text)
    assert re.search(r"slow paused .* Resume", text_of(section(paused.text, "queues")))
    resumed = await post(admin_client, f"{INDEX}/queues/{slow_tasks.QUEUE}/resume")
    assert "Queue slow resumed." in text_of(resumed.text)
    queues = text_of(section(resumed.text, "queues"))
    assert "paused" not in queues
    assert "Pause" in queues


async def broken_jobs(count: int, *, state: str) -> list[int]:
    """`count` jobs whose first run failed with ERROR: `failed` for good, or `todo` waiting for their
    retry in an hour (as a worker leaves them, without running one)."""
    task = slow_tasks.task_name("fail_first_time")
    ids = [await defer_by_name(task, queue=slow_tasks.QUEUE, error=ERROR) for _ in range(count)]
    await execute(
        "UPDATE procrastinate_jobs SET status = CAST(:state AS procrastinate_job_status), attempts = 1,"
        " scheduled_at = CASE WHEN :state = 'todo' THEN now() + interval '1 hour' END"
        " WHERE id = ANY(CAST(:ids AS bigint[]))",
        state=state,
        ids=ids,
    )
    await execute(
        "INSERT INTO job_errors (job_id, attempt, error) SELECT id, 1, :error FROM unnest(CAST(:ids AS bigint[])) id",
        error=f"RuntimeError: {ERROR}",
        ids=ids,
    )
    return ids


async def test_a_tick_loads_the_jobs_in_four_queries_for_twenty_failed_jobs(admin_client: httpx.AsyncClient) -> None:
    failed = await broken_jobs(FAILED_SHOWN - 2, state="failed")
    retrying = await broken_jobs(2, state="todo")

    async with count_queries() as queries:
        view = await load_jobs()

    # The queues' counts, the failed jobs, the jobs waiting for a retry, and every shown job's errors.
    assert len(queries) == 4, queries
    assert [job.id for job in view.failed] == sorted([*failed, *retrying], reverse=True)
    assert all(
        [(e.attempt, e.error) for e in view.errors[job.id]] == [(1, f"RuntimeError: {ERROR}")] for job in view.failed
    )


async def test_the_page_runs_as_many_queries_for_twenty_failed_jobs_as_for_one(admin_client: httpx.AsyncClient) -> None:
    await broken_jobs(1, state="failed")
    await admin_client.get(INDEX)  # whatever a first visit loads once
    async with count_queries() as for_one:
        await admin_client.get(INDEX)
    await broken_jobs(FAILED_SHOWN - 1, state="failed")

    async with count_queries() as for_twenty:
        html = (await admin_client.get(INDEX)).text

    assert len(for_twenty) == len(for_one), for_twenty
    failed = text_of(section(html, "failed"))
    assert failed.count("Every attempt's error Attempt 1") == FAILED_SHOWN
    assert failed.count(f"RuntimeError: {ERROR}") == 2 * FAILED_SHOWN  # the last error, and attempt 1's


async def test_a_job_waiting_for_its_retry_shows_however_many_newer_jobs_wait(admin_client: httpx.AsyncClient) -> None:
    [retrying] = await broken_jobs(1, state="todo")
    for _ in range(FAILED_SHOWN + 1):  # newer jobs waiting for their first run
        await defer_by_name(slow_tasks.task_name("fail_first_time"), queue=slow_tasks.QUEUE, error=ERROR)

    failed = text_of(section((await admin_client.get(INDEX)).text, "failed"))

    assert f"Job {retrying} Queue slow attempt 1 of 1 will retry" in failed
    assert failed.count("Job ") == 1


# --- Live ---


async def test_a_tick_pushes_the_sections_that_changed_and_only_those(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    await log_in(client, (await user_fixture(role="admin")).email)
    async with live_stream(web_app, client, INDEX) as stream:
        first = await stream.next_event()
        assert 'hx-target="#live-region"' in first.data
        assert pubsub.node_id()[:8] in first.data

        # The next tick (this node reports every 2 s): time moved, so the charts (or, for a young
        # node, its uptime in seconds) changed; the job queues did not, and are not sent again.
        pushed = await stream.next_event(timeout=3 * application.current().settings.node_stats_interval)

    assert pushed.event == "live"
    targets = set(re.findall(r'hx-target="#dashboard-([a-z]+)"', pushed.data))
    assert targets & {"charts", "nodes"}
    assert targets <= {"overview", "charts", "pool", "nodes", "queries"}
    assert 'hx-target="#live-region"' not in pushed.data
