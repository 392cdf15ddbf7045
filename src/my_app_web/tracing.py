"""Server spans for HTTP requests, named by route template (`GET /api/products/{id}`), when tracing is on.

`instrument(app, settings)` adds `ServerSpans` as the outermost edge when OTEL_EXPORTER_OTLP_ENDPOINT
is set, and does nothing otherwise: then no middleware is added and nothing of OpenTelemetry is
imported. The spans go to the running app's provider (`my_app.tracing.running`, made when the app
starts), so an app started after `create_app()`, or started twice, traces with its own.

Why not `FastAPIInstrumentor.instrument_app`: it expects Starlette's ServerErrorMiddleware at the top
of the stack and skips an app whose stack starts with other middleware, as our Endpoint's edges do.
It also names a span by matching every route a second time before the request; here the router's
own match (`scope["route"]`, set as it routes) renames the span when the response starts.

Not traced: sockets (served before the middleware, and open for hours: a span would end with the
socket), the probes and the scrape (`UNTRACED_PATHS`), which would flood a trace store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from my_app import tracing
from my_app.config import Settings
from my_app_web.telemetry import UNMATCHED, Telemetry, route_of

if TYPE_CHECKING:
    from opentelemetry.trace import Span

# Liveness and readiness probes and the Prometheus scrape: every few seconds, and nothing to learn.
UNTRACED_PATHS = frozenset({"/health", "/ready", "/metrics"})


class HasEdges(Protocol):
    """The Endpoint, as far as tracing needs it: the middleware around Starlette's error handler."""

    edge_middleware: list[Middleware]


def instrument(app: HasEdges, settings: Settings) -> None:
    """Trace `app`'s HTTP requests when OTEL_EXPORTER_OTLP_ENDPOINT is set (no-op otherwise).

    Just inside the forwarded headers (spans show the client's address, not the proxy's), outside the
    other edges: their own refusals (a bad Host) and Starlette's 500 get a span too.
    """
    if settings.otel_exporter_otlp_endpoint:
        edges = app.edge_middleware
        at = next((index for index, edge in enumerate(edges) if cast("object", edge.cls) is Telemetry), 0)
        edges.insert(at, Middleware(ServerSpans))


class ServerSpans:
    """OpenTelemetry's ASGI middleware, built for the running app's tracer provider (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The OpenTelemetry middleware, and the Tracing it was built for.
        self._traced: tuple[tracing.Tracing, ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        current = tracing.running.value
        if current is None or scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        traced = self._traced
        if traced is None or traced[0] is not current:
            traced = self._traced = (current, _open_telemetry_middleware(self.app, current))
        await traced[1](scope, receive, send)


def _open_telemetry_middleware(app: ASGIApp, current: tracing.Tracing) -> ASGIApp:
    from opentelemetry.instrumentation.asgi import (
        OpenTelemetryMiddleware,
    )

    middleware: ASGIApp = OpenTelemetryMiddleware(
        _NamedByRoute(app, current),
        default_span_details=_method_only,
        tracer_provider=current.provider,
        # The per-message `http send` / `http receive` spans: two or more a request, and noise.
        exclude_spans=["receive", "send"],
    )
    return middleware


def _method_only(scope: Scope) -> tuple[str, dict[str, str]]:
    # The span's first name; `_NamedByRoute` gives it the route the router matched.
    return scope.get("method", "HTTP"), {}


class _NamedByRoute:
    """Renames the server span `METHOD /route/{template}` from the router's match (`scope["route"]`).

    When the response starts: routing is done by then, and the span ends with the response's last
    body message, before this app's call returns.
    """

    def __init__(self, app: ASGIApp, current: tracing.Tracing) -> None:
        self.app = app
        self.current_span = current.current_span

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def naming_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.name(scope)
            await send(message)

        await self.app(scope, receive, naming_send)

    def name(self, scope: Scope) -> None:
        span = self.current_span()
        if not span.is_recording():
            return
        route = route_of(scope)  # the name the HTTP metrics and access lines give it too
        if route == UNMATCHED:
            _redact_request_target(span, scope["path"])
            return
        span.update_name(f"{scope['method']} {route}")
        span.set_attribute("http.route", route)
        _redact_request_target(span, route)


# The request target's attributes, by semantic-conventions version (the old ones are the default).
_PATH_ATTRIBUTES = ("http.target", "url.path")
_URL_ATTRIBUTES = ("http.url", "url.full")


def _redact_request_target(span: Span, path: str) -> None:
    """Replace the raw path and query the span recorded with `path` (the route template when one matched).

    A request's path and query can carry secrets (`/users/reset-password/{token}`, a magic link's
    token, `?token=`): traces leave the app for a collector, and keep no more of them than log lines do.
    """
    recorded = getattr(span, "attributes", None) or {}
    for key in _PATH_ATTRIBUTES:
        if key in recorded:
            span.set_attribute(key, path)
    for key in _URL_ATTRIBUTES:
        if isinstance(url := recorded.get(key), str):
            span.set_attribute(key, urlsplit(url)._replace(path=path, query="", fragment="").geturl())
    if "url.query" in recorded:
        span.set_attribute("url.query", "")
