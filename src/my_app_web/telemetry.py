"""The HTTP edge's telemetry (the seed's `telemetry.ex` and `Plug.Logger`): one middleware that gives
each request its id, times it, and at its end counts it in the metrics and writes its access line.

- **Request id** (`x-request-id`, Plug.RequestId): on every response, the edges' refusals included;
  a client's id is kept when it is 20-200 safe characters (`plugs.request_id`).
- **Metrics:** `http_requests_total{method,route,status}` and `http_request_duration_seconds{method,
  route}`. `route` is the matched route's template (`/api/products/{id}`), `/static` for static files
  and `unmatched` when no route matched (404s, the host check's 400): a scanner's random paths add
  no series. An unusual method is counted as `OTHER`, for the same reason.
- **Access line:** one per request (uvicorn's own is off), with request_id, method, route, path
  (a `{token}` path parameter and `token=` query parameters `[FILTERED]`), status, duration_ms,
  user_id (None for visitors) and client (its address). Every other line logged during the request carries request_id,
  method, route and user_id too (`log.current_request`).

A live page's SSE stream (`live.LiveResponse`) passes the edges until it has sent its headers and
first event, then the endpoint holds it outside them (`Endpoint.__call__`): it is counted and logged
then, with the time to its first event as its duration. How long a page stays open is not a latency.

WebSocket upgrades that reach the middleware get a request id and the request's log fields; the
app's socket (`/socket/websocket`) is served before the middleware (see `Endpoint`) and logs itself.

Kept lean (every request pays it): the labelled series are looked up once per (method, route,
status) and cached; the access line is one dict handed to the log's writer thread, which renders
it (`log.write_event`: no LogRecord, no formatter chain).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from my_app import log, metrics
from my_app_web.plugs.request_id import HEADER_BYTES, incoming_id

UNMATCHED = "unmatched"
OTHER_METHOD = "OTHER"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The access lines' logger: LOG_LEVEL=WARNING (or this logger's level) silences them.
ACCESS_LOGGER = "my_app_web.access"

Series = tuple[Callable[[], None], Callable[[float], None]]

# Request ids: 128 random bits as 32 hex digits, like uuid4().hex, from a generator seeded once per
# process. uuid4() reads the OS's random source each time: 110 µs a request on this machine's
# sandboxed kernel (bench/telemetry_overhead.py). An id must be unique, not unguessable.
_ids = random.Random(os.urandom(32))  # noqa: S311 - not a secret


def new_request_id() -> str:
    return f"{_ids.getrandbits(128):032x}"


def route_of(scope: Scope) -> str:
    """The template of the route that matched `scope` (`/api/products/{id}`), else `unmatched`.

    A matched route is in the scope (`scope["route"]`, set by FastAPI's routes). A mount (the static
    files) sets no route: it is named by its prefix, the part of `root_path` it added.
    """
    route = scope.get("route")
    if route is not None:
        template = getattr(route, "path_format", None)
        return template if isinstance(template, str) else UNMATCHED
    if "endpoint" in scope:  # a mount matched
        return scope.get("root_path", "")[len(scope.get("app_root_path", "")) :] or "/"
    return UNMATCHED


def user_id_of(scope: Scope) -> str | None:
    """The id of the signed-in user (browser session or API token) once `plugs.auth` resolved them."""
    state = scope.get("state")
    user = state.get("current_user") if state else None
    return str(user.id) if user is not None else None


class _RequestFields:
    """`log.current_request` for one request: its fields, read whenever a line is logged."""

    __slots__ = ("method", "request_id", "scope")

    def __init__(self, request_id: str, method: str, scope: Scope) -> None:
        self.request_id = request_id
        self.method = method
        self.scope = scope

    def __call__(self) -> Mapping[str, object]:
        return {
            "request_id": self.request_id,
            "method": self.method,
            "route": route_of(self.scope),
            "user_id": user_id_of(self.scope),
        }


class Telemetry:
    """Pure ASGI edge middleware: request id, metrics and the access line (see the module docstring).

    Examples:
        app = Telemetry(app)
        # GET /api/products/7 -> x-request-id: 3f2a...; http_requests_total{method="GET",
        #   route="/api/products/{id}",status="200"} += 1; one access line
    """

    def __init__(self, app: ASGIApp, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.clock = clock
        self._series: dict[tuple[str, str, int], Series] = {}
        self._access = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        request_id = incoming_id(scope) or new_request_id()
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        method = scope.get("method", "GET")
        context = log.current_request.set(_RequestFields(request_id, method, scope))
        if kind == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                log.current_request.reset(context)
            return

        status = 500  # what the client gets when the app ends without answering
        header = (HEADER_BYTES, request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new list: a response object may be sent twice, and must not grow. The 500
                # handler names the id itself (it may run outside the edges): not twice.
                message["headers"] = [*(h for h in message.get("headers", ()) if h[0] != HEADER_BYTES), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = self.clock() - started
            log.current_request.reset(context)
            self._record(scope, method, status, duration, request_id)

    def _record(self, scope: Scope, method: str, status: int, duration: float, request_id: str) -> None:
        route = route_of(scope)
        # Keyed by the method's label, not the method: a client's made-up methods add no entries.
        key = (method if method in _METHODS else OTHER_METHOD, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _series_for(*key)
        count, observe = series
        count()
        observe(duration)
        if self._access.isEnabledFor(logging.INFO):
            log.write_event(access_line(scope, request_id, method, route, status, duration))


def _series_for(method_label: str, route: str, status: int) -> Series:
    return (
        metrics.HTTP_REQUESTS.labels(method_label, route, str(status)).inc,
        metrics.HTTP_REQUEST_DURATION.labels(method_label, route).observe,
    )


def access_line(scope: Scope, request_id: str, method: str, route: str, status: int, duration: float) -> dict[str, Any]:
    """The access line's fields: a structlog event dict, rendered in the log's writer thread."""
    path: str = scope["path"]
    params = scope.get("path_params")
    if params and "token" in params:
        # An emailed link's token (/users/confirm/{token}) is a password for its holder.
        path = path.replace(params["token"], log.FILTERED)
    query: bytes = scope.get("query_string", b"")
    if query:
        path = log.scrub_url(f"{path}?{query.decode('latin-1')}")
    return {
        "event": "request",
        "level": "info",
        "logger": ACCESS_LOGGER,
        "request_id": request_id,
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": round(duration * 1000, 2),
        "user_id": user_id_of(scope),
        # The forwarded client when behind TRUSTED_PROXIES (ForwardedHeaders ran first).
        "client": client[0] if (client := scope.get("client")) else None,
    }
