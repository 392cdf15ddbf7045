"""The ops dashboard (Phoenix LiveDashboard with Oban Web): every node's requests, latency, sockets,
presences, pool, memory and event-loop lag, the slowest recent queries, and the job queues with
their failed jobs, live; Pause / Resume a queue, Retry / Cancel a job.

Two routers, one page: `router` at /admin/dashboard for admins in every environment (visitors log
in and come back; other users get 403), in the browser pipeline; `dev_router` at /dev/dashboard in
dev only, without log-in (mounted with the dev mailbox by `controllers.dev_mailbox.mount_dev_routes`).
Routes: see `routes.py`; what the page shows and how it stays live: `page.py`; the charts: `chart.py`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from my_app_web.live.admin.dashboard_live.page import RouteNames
from my_app_web.live.admin.dashboard_live.routes import add_dashboard_routes
from my_app_web.live.user_live.access import require_admin
from my_app_web.plugs.auth import fetch_current_user

ADMIN_ROUTES = RouteNames.named("admin_dashboard", nav=True)
DEV_ROUTES = RouteNames.named("dev_dashboard", nav=False)

router = APIRouter(
    prefix="/admin/dashboard", tags=["pages"], include_in_schema=False, dependencies=[Depends(require_admin)]
)
add_dashboard_routes(router, ADMIN_ROUTES)

# Dev only, no log-in: the browser pipeline's user lookup is all it adds (the navigation shows who is in).
dev_router = APIRouter(
    prefix="/dev/dashboard", tags=["dev"], include_in_schema=False, dependencies=[Depends(fetch_current_user)]
)
add_dashboard_routes(dev_router, DEV_ROUTES)

__all__ = ["ADMIN_ROUTES", "DEV_ROUTES", "dev_router", "router"]
