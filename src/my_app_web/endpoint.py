"""The ASGI app factory (Phoenix's Endpoint): middleware, static files, routes, lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi._body_limit import AppBodyLimitMiddleware
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from my_app import application, log, metrics_export
from my_app.config import Settings, get_settings
from my_app_web import drain
from my_app_web.channels.origin_check import OriginCheck
from my_app_web.channels.socket_endpoint import SocketEndpoint
from my_app_web.channels.socket_handler import SocketHandler
from my_app_web.channels.user_socket import UserSocket
from my_app_web.controllers.api_docs import docs_options, mount_api_docs
from my_app_web.controllers.dev_mailbox import mount_dev_routes
from my_app_web.controllers.fallback import register_exception_handlers
from my_app_web.gettext import LocaleMiddleware
from my_app_web.links import email_links
from my_app_web.live.stream import DETACHED_KEY, LiveResponse
from my_app_web.plugs.body_limit import BodyLimitMiddleware
from my_app_web.plugs.forwarded import ForwardedHeaders
from my_app_web.plugs.rate_limit import Limiter
from my_app_web.plugs.security_headers import SecurityHeadersMiddleware
from my_app_web.plugs.trusted_host import TrustedHostMiddleware, TrustedHosts
from my_app_web.route_table import RouteTable
from my_app_web.router import include_flat, router
from my_app_web.static_files import DigestedStaticFiles, assets
from my_app_web.telemetry import Telemetry
from my_app_web.tracing import instrument as instrument_tracing

# Runs before a socket is handed its connection: True to go on, False once it has answered itself.
SocketGate = Callable[[Scope, Receive, Send], Awaitable[bool]]


class Endpoint(FastAPI):
    """FastAPI, plus Phoenix's `socket "/socket", UserSocket`: sockets served before routing and middleware.

    A socket authenticates with its own token and needs no session, request id or router; going
    around them saves each of thousands of open sockets the frames of every middleware and of the
    route it would otherwise keep alive for as long as it is open (about 16 KB a socket). The
    edges that concern sockets too (forwarded headers, the host check) run as `socket_gates`
    before the socket is served, and return.

    A live page's SSE stream (`live.LiveResponse`) does need them (its page's session, route and
    dependencies), so it goes through them, sends its headers and first event, and returns: the
    endpoint then holds the open stream itself, with the server's `send`.

    Examples:
        app = Endpoint()
        app.socket("/socket", UserSocket(settings))     # ws://host/socket/websocket
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.sockets: dict[str, SocketEndpoint] = {}
        # Middleware around Starlette's own error handler (outermost first): what even its 500 passes.
        self.edge_middleware: list[Middleware] = []
        # What a socket passes first (forwarded headers, the host check). Each runs and returns,
        # so an open socket keeps none of their frames alive.
        self.socket_gates: list[SocketGate] = []

    def socket(self, path: str, handler: SocketHandler, *, check_origin: OriginCheck | None = None) -> None:
        """Serve `handler`'s socket at `<path>/websocket` (the path the Phoenix JS client connects to).

        `check_origin` (Phoenix's socket option of that name) refuses upgrades from other origins
        with 403; None accepts every origin.
        """
        self.sockets[f"{path.rstrip('/')}/websocket"] = SocketEndpoint(handler, check_origin=check_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            path, root = scope["path"], scope.get("root_path", "")
            socket = self.sockets.get(path[len(root) :] if root and path.startswith(root) else path)
            if socket is not None:
                for gate in self.socket_gates:
                    if not await gate(scope, receive, send):
                        return
                await socket(scope, receive, send)
                return
        elif scope["type"] == "http" and _asks_for_event_stream(scope):
            # A live page's stream passes the middleware and its route like any request, then is
            # handed back here once it has sent its first event: an open page keeps none of their
            # frames alive while it waits (12 KB a page less: bench/live_pages.py).
            detached: list[LiveResponse] = []
            scope[DETACHED_KEY] = detached
            await super().__call__(scope, receive, send)
            if detached:
                # The route's dependency exit stacks are closed and its routing is done; the page's
                # request (its scope) would keep them alive (~3 KB a page).
                for key in _FASTAPI_ROUTING_STATE:
                    scope.pop(key, None)
            for stream in detached:
                await stream.hold(receive, send)
            return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's stack (`FastAPI.build_middleware_stack`, 0.165) with three differences, each a
        layer every request paid for nothing:

        - the routes are found through a `RouteTable` (by the path's first segments) instead of a walk
          over all of them;
        - no `ExceptionTelemetryMiddleware`: it records exceptions for FastAPI's own OpenTelemetry
          hooks, which `create_app` turns off (our traces come from `my_app.tracing`);
        - no `AppBodyLimitMiddleware` unless `max_body_size` is set: ours (`BodyLimitMiddleware`)
          limits bodies, and FastAPI's passes everything through without it.

        Then the edges (`edge_middleware`) around it all.
        """
        error_handler = None
        exception_handlers: dict[Any, Any] = {}
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                exception_handlers[key] = value
        middleware = [
            Middleware(ServerErrorMiddleware, handler=error_handler, debug=self.debug),
            *([Middleware(AppBodyLimitMiddleware, max_body_size=self.max_body_size)] if self.max_body_size else []),
            *self.user_middleware,
            Middleware(ExceptionMiddleware, handlers=exception_handlers, debug=self.debug),
            # FastAPI's: closes uploaded files, in the same contextvars context as the endpoint.
            Middleware(AsyncExitStackMiddleware),
        ]
        app: ASGIApp = RouteTable(self.router)
        for cls, args, kwargs in reversed([*self.edge_middleware, *middleware]):
            app = cls(app, *args, **kwargs)
        return app


_FASTAPI_ROUTING_STATE = (
    "fastapi_astack",
    "fastapi_inner_astack",
    "fastapi_function_astack",
    "fastapi_middleware_astack",
    "fastapi",  # the effective route context, read while routing
)


def _asks_for_event_stream(scope: Scope) -> bool:
    return scope["method"] == "GET" and any(
        name == b"accept" and b"text/event-stream" in value for name, value in scope["headers"]
    )


def create_app(settings: Settings | None = None, *, start_application: bool = True) -> Endpoint:
    """Build the web app; `start_application=False` leaves starting the core to the caller (tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if not start_application:
                yield
                return
            async with application.lifespan(settings, links=email_links(settings)) as running:
                app.state.application = running
                # METRICS_PORT, when this process is the only one (with several, `myapp server` serves it).
                stop_metrics_port = (
                    None
                    if metrics_export.multiprocess_dir()
                    else metrics_export.serve_metrics_port(settings, asyncio.get_running_loop())
                )
                # SIGTERM/Ctrl-C end the live pages' streams at once (uvicorn would wait for them).
                stop_draining_on_signals = drain.listen(asyncio.get_running_loop())
                try:
                    yield
                finally:
                    stop_draining_on_signals()
                    if stop_metrics_port is not None:
                        await asyncio.to_thread(stop_metrics_port)  # waits for its thread
        finally:
            await app.state.limiter.close()

    app = Endpoint(
        title="MyApp",
        version="0.1.0",
        lifespan=lifespan,
        **docs_options(settings),  # /api/openapi.json, unless API_DOCS is off
        debug=False,  # never render tracebacks, whatever the environment
        # FastAPI's own OpenTelemetry hooks look up the global providers on every request; our traces
        # come from my_app.tracing (its own provider), so they would only cost.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.limiter = Limiter.from_settings(settings)
    log.configure(settings)
    add_edges(app, settings)
    instrument_tracing(app, settings)  # OpenTelemetry server spans, when OTEL_EXPORTER_OTLP_ENDPOINT is set
    app.add_middleware(LocaleMiddleware)  # inside the session: remembers `?locale=` there
    # Added last = runs first (inside the edges): the body limit comes before anything reads a body.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key_base or "",
        session_cookie=settings.session_cookie,
        max_age=None,  # a browser session; the remember-me cookie keeps users logged in longer
        same_site="lax",
        https_only=settings.env == "prod",
    )
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    # Last: its ErrorBoundary is then the outermost of the app's middleware, so an error from the
    # session or the body limit is answered by us too, never by uvicorn.
    register_exception_handlers(app)
    mount_api_docs(app, settings)  # /api/docs, unless API_DOCS is off
    app.mount("/static", DigestedStaticFiles(assets), name="static")  # digested names, long caching
    include_flat(app.router, router)  # one flat list of routes: matched once per request
    app.socket("/socket", UserSocket(settings), check_origin=OriginCheck.from_settings(settings))
    mount_dev_routes(app, settings)  # /dev/mailbox, in dev only
    return app


def add_edges(app: Endpoint, settings: Settings) -> None:
    """The edges every request passes, outermost first.

    1. Forwarded headers, from TRUSTED_PROXIES only (sockets too): the client address that rate
       limits and logs see.
    2. Telemetry: the request id (on every response, the edges' own refusals and Starlette's 500
       included), the HTTP metrics and the access line (`my_app_web.telemetry`).
    3. Security headers, on every response too.
    4. The Host check (TRUSTED_HOSTS; sockets too): 400 for other hosts.
    Then, inside Starlette's error handler: the body limit, the session, the routes.
    """
    hosts = TrustedHosts(settings.trusted_host_list)
    if settings.trusted_proxy_list:
        forwarded = ForwardedHeaders(settings.trusted_proxy_list)
        app.edge_middleware.append(Middleware(forwarded.wrap))
        app.socket_gates.append(forwarded.gate)
    app.edge_middleware += [
        Middleware(Telemetry),
        Middleware(SecurityHeadersMiddleware, hsts=settings.env == "prod"),
    ]
    if not hosts.allow_any:
        app.edge_middleware.append(Middleware(TrustedHostMiddleware, hosts))
        app.socket_gates.append(hosts.gate)
