"""The ops dashboard page (LiveDashboard's home, metrics and Oban Web in one): what it shows, and how
it stays live.

It listens to this node's stats tick (`node_stats.TICK_TOPIC`, every NODE_STATS_INTERVAL seconds):
each tick renders every section again and pushes only the sections whose HTML changed, so a form
in a section that did not change (the failed jobs' buttons) is never swapped under the pointer.
The job queries of a tick (`load_jobs`: four, whatever the number of jobs shown) are shared by every
dashboard open on this node (`LivePage.shared`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from my_app import jobs, node_stats, pubsub
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.html import page_context
from my_app_web.live import LivePage, Patch, inner
from my_app_web.live.admin.dashboard_live.chart import Chart, Series, line_chart
from my_app_web.live.page import REGION_ID
from my_app_web.templating import templates

TEMPLATE = "admin/dashboard_live/index.html"
REGION_TEMPLATE = "admin/dashboard_live/_dashboard.html"
# Each section: its DOM id (`dashboard-<name>`) and its template (`admin/dashboard_live/_<name>.html`).
SECTIONS = ("overview", "charts", "pool", "queues", "failed", "nodes", "queries")
FAILED_SHOWN = 20


@dataclass(frozen=True)
class RouteNames:
    """The names of one dashboard's routes (/admin/dashboard for admins, /dev/dashboard in dev)."""

    index: str
    pause_queue: str
    resume_queue: str
    retry_job: str
    cancel_job: str
    nav: bool  # show the admin sub-navigation

    @classmethod
    def named(cls, index: str, *, nav: bool) -> RouteNames:
        """The routes of the dashboard whose page is named `index`, each named `<index>_<action>`."""
        return cls(
            index=index,
            pause_queue=f"{index}_pause_queue",
            resume_queue=f"{index}_resume_queue",
            retry_job=f"{index}_retry_job",
            cancel_job=f"{index}_cancel_job",
            nav=nav,
        )


@dataclass(frozen=True)
class JobsView:
    """The job queues as the dashboard shows them: counts by queue and state, and the failed jobs."""

    queues: list[jobs.QueueStats]
    failed: list[jobs.JobInfo]
    errors: dict[int, list[jobs.JobError]]


@dataclass(frozen=True)
class Charts:
    requests: Chart
    latency: Chart


async def load_jobs() -> JobsView:
    """The queues' counts, and the newest failed jobs and those waiting for a retry after a failed
    attempt, each with every attempt's error: four queries, however many jobs are shown."""
    queues = await jobs.queue_stats()
    failed = await jobs.list_jobs(state="failed", limit=FAILED_SHOWN)
    retrying = await jobs.list_jobs(retrying=True, limit=FAILED_SHOWN)
    shown = sorted([*failed, *retrying], key=lambda job: job.id, reverse=True)[:FAILED_SHOWN]
    # A job deleted since it was listed (pruned, another admin) is absent: shown without its errors.
    errors = await jobs.job_errors_for([job.id for job in shown])
    return JobsView(queues=queues, failed=shown, errors=errors)


def charts(stats: node_stats.NodeStats, now: float) -> Charts:
    """The request rate and latency (p50, p95, in ms) of the whole cluster over the kept history."""
    points = stats.series()
    start = now - stats.history_seconds
    rate = line_chart([Series("rate", [(p.at, p.requests_per_second) for p in points])], start=start, end=now)
    latency = line_chart(
        [
            Series("p50", [(p.at, None if p.p50 is None else p.p50 * 1000) for p in points]),
            Series("p95", [(p.at, None if p.p95 is None else p.p95 * 1000) for p in points]),
        ],
        start=start,
        end=now,
    )
    return Charts(requests=rate, latency=latency)


class Dashboard(LivePage):
    template = TEMPLATE
    region_template = REGION_TEMPLATE

    def __init__(self, request: Request, routes: RouteNames) -> None:
        super().__init__(request)
        self.routes = routes
        self._shown: dict[str, str] = {}  # each section's HTML as the browser has it

    def topics(self) -> Sequence[str]:
        return [node_stats.TICK_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        return self.view(await load_jobs())

    def view(self, jobs_view: JobsView) -> dict[str, Any]:
        stats = node_stats.current()
        now = time.time()
        return {
            "page_title": _("Dashboard"),
            "routes": self.routes,
            "overview": stats.overview(),
            "nodes": stats.nodes(),
            "this_node": pubsub.node_id(),
            "charts": charts(stats, now),
            "slow_queries": stats.slowest_queries(),
            "jobs": jobs_view,
            "now": now,
            "interval": stats.interval,
        }

    async def refresh(self) -> list[Patch]:
        # The whole region, sent on (re)connection: every section as the browser will have it.
        view = await self.assigns()
        self._shown = {name: self._render(name, view) for name in SECTIONS}
        html = templates.get_template(self.region_template).render(page_context(self.request, **view))
        return [inner(REGION_ID, html)]

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        view = self.view(await self.shared(message, "jobs", load_jobs))
        found = []
        for name in SECTIONS:
            html = self._render(name, view)
            if self._shown.get(name) != html:
                self._shown[name] = html
                found.append(inner(f"dashboard-{name}", html))
        return found

    def _render(self, name: str, view: dict[str, Any]) -> str:
        return templates.get_template(section_template(name)).render(page_context(self.request, **view))


def section_template(name: str) -> str:
    return f"admin/dashboard_live/_{name}.html"
