"""`GET /metrics`: the app's metrics as Prometheus text (the seed's telemetry, for a scraper).

Who may read them: an admin's browser session, or `Authorization: Bearer <METRICS_TOKEN>` (a
scraper). Without METRICS_TOKEN no bearer token is accepted. Visitors get 401, signed-in users who
are not admins 403 (DESIGN.md's JSON errors). METRICS_PORT serves the same text without
authentication, for a private network (`my_app.metrics_export`).

With several workers, whichever answers reads every worker's values and sums them.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response

from my_app import accounts, metrics_export
from my_app.accounts.user import Role
from my_app.config import Settings
from my_app.errors import ForbiddenError, UnauthorizedError
from my_app_web.plugs.auth import CurrentSession

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, session: CurrentSession) -> Response:
    settings: Settings = request.app.state.settings
    authorize(request.headers.get("authorization"), session, settings.metrics_token)
    jobs = await metrics_export.count_jobs_family()
    collector = metrics_export.AppMetrics(metrics_export.multiprocess_dir(), lambda: jobs)
    return Response(metrics_export.exposition(collector), media_type=metrics_export.CONTENT_TYPE)


def authorize(authorization: str | None, session: accounts.Session | None, metrics_token: str | None) -> None:
    """Return if the caller may read the metrics; else raise 401 or 403."""
    if authorization:
        # A bearer token is the scraper's: it must be METRICS_TOKEN, whoever's session comes with it.
        scheme, _, token = authorization.partition(" ")
        if (
            metrics_token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), metrics_token.encode())
        ):
            return
        raise UnauthorizedError()
    if session is None:
        raise UnauthorizedError()
    if session.user.role != Role.ADMIN:
        raise ForbiddenError()
