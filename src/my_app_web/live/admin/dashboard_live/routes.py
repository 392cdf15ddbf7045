"""The dashboard's routes, made once for admins (/admin/dashboard) and once for dev (/dev/dashboard).

Every button is a form POST with the CSRF token, answered with a flash message and a 303 back to
the dashboard (POST-redirect-GET: works without JavaScript). With htmx the form swaps the live
region and the flash messages from the page it is redirected to. Each goes through the job queue's
functions, the same operations as `myapp jobs`.

    GET  <prefix>                          the dashboard (and its live stream)
    POST <prefix>/queues/{queue}/pause     stop fetching the queue's jobs
    POST <prefix>/queues/{queue}/resume    fetch them again
    POST <prefix>/jobs/{job_id}/retry      run a failed job again now
    POST <prefix>/jobs/{job_id}/cancel     cancel a waiting (or retrying) job
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from my_app import jobs
from my_app.errors import NotFoundError, ValidationError
from my_app.gettext import gettext as _
from my_app_web.flash import put_flash
from my_app_web.live import live
from my_app_web.live.admin.dashboard_live.page import Dashboard, RouteNames
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.templating import path_for

# procrastinate's job ids are PostgreSQL bigints: a larger number is refused before any query (422).
JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]
QueueName = Annotated[str, Path(min_length=1, max_length=100)]


def add_dashboard_routes(router: APIRouter, names: RouteNames) -> None:
    """Add the dashboard's GET and its buttons' POSTs to `router`, under `names`."""

    @router.get("", name=names.index)
    async def index(request: Request) -> Response:
        return await live(request, Dashboard(request, names))

    @router.post("/queues/{queue}/pause", name=names.pause_queue, dependencies=[Depends(verify_csrf)])
    async def pause_queue(request: Request, queue: QueueName) -> RedirectResponse:
        try:
            await jobs.pause_queue(queue)
        except ValidationError:
            put_flash(request, "error", _("There is no queue named %(queue)s.", queue=queue))
        else:
            put_flash(request, "info", _("Queue %(queue)s paused: its jobs wait until it is resumed.", queue=queue))
        return _back(request, names)

    @router.post("/queues/{queue}/resume", name=names.resume_queue, dependencies=[Depends(verify_csrf)])
    async def resume_queue(request: Request, queue: QueueName) -> RedirectResponse:
        try:
            await jobs.resume_queue(queue)
        except ValidationError:
            put_flash(request, "error", _("There is no queue named %(queue)s.", queue=queue))
        else:
            put_flash(request, "info", _("Queue %(queue)s resumed.", queue=queue))
        return _back(request, names)

    @router.post("/jobs/{job_id}/retry", name=names.retry_job, dependencies=[Depends(verify_csrf)])
    async def retry_job(request: Request, job_id: JobId) -> RedirectResponse:
        try:
            await jobs.retry_job(job_id)
        except NotFoundError:
            put_flash(request, "error", _("Job %(id)s no longer exists.", id=job_id))
        except ValidationError:
            put_flash(request, "error", _("Job %(id)s has not failed: only failed jobs can be retried.", id=job_id))
        else:
            put_flash(request, "info", _("Job %(id)s will run again.", id=job_id))
        return _back(request, names)

    @router.post("/jobs/{job_id}/cancel", name=names.cancel_job, dependencies=[Depends(verify_csrf)])
    async def cancel_job(request: Request, job_id: JobId) -> RedirectResponse:
        try:
            await jobs.cancel_job(job_id)
        except NotFoundError:
            put_flash(request, "error", _("Job %(id)s no longer exists.", id=job_id))
        except ValidationError:
            put_flash(request, "error", _("Job %(id)s has finished: it can no longer be cancelled.", id=job_id))
        else:
            put_flash(request, "info", _("Job %(id)s cancelled.", id=job_id))
        return _back(request, names)


def _back(request: Request, names: RouteNames) -> RedirectResponse:
    # 303: the browser follows with a GET, so a reload does not post again.
    return RedirectResponse(path_for(request, names.index), status_code=303)
