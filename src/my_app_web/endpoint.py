"""The ASGI app factory (Phoenix's Endpoint): middleware, static files, routes, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Receive, Scope, Send

from my_app import application, log
from my_app.config import Settings, get_settings
from my_app_web.channels.origin_check import OriginCheck
from my_app_web.channels.socket_endpoint import SocketEndpoint
from my_app_web.channels.socket_handler import SocketHandler
from my_app_web.channels.user_socket import UserSocket
from my_app_web.controllers.dev_mailbox import mount_dev_routes
from my_app_web.controllers.fallback import register_exception_handlers
from my_app_web.plugs.rate_limit import Limiter
from my_app_web.plugs.request_id import RequestIdMiddleware
from my_app_web.router import router
from my_app_web.templating import STATIC_PATH


class Endpoint(FastAPI):
    """FastAPI, plus Phoenix's `socket "/socket", UserSocket`: sockets served before routing and middleware.

    A socket authenticates with its own token and needs no session, request id or router; going
    around them saves each of thousands of open sockets the frames of every middleware and of the
    route it would otherwise keep alive for as long as it is open (about 16 KB a socket).

    Examples:
        app = Endpoint()
        app.socket("/socket", UserSocket(settings))     # ws://host/socket/websocket
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.sockets: dict[str, SocketEndpoint] = {}

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
                await socket(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, start_application: bool = True) -> Endpoint:
    """Build the web app; `start_application=False` leaves starting the core to the caller (tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if not start_application:
                yield
                return
            async with application.lifespan(settings) as running:
                app.state.application = running
                yield
        finally:
            await app.state.limiter.close()

    app = Endpoint(
        title="MyApp",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        redoc_url=None,
        debug=False,  # never render tracebacks, whatever the environment
    )
    app.state.settings = settings
    app.state.limiter = Limiter.from_settings(settings)
    log.configure(settings)
    register_exception_handlers(app)
    # Added last = runs first: every response, errors included, carries the request id.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key_base or "",
        session_cookie=settings.session_cookie,
        max_age=None,  # a browser session; the remember-me cookie keeps users logged in longer
        same_site="lax",
        https_only=settings.env == "prod",
    )
    app.add_middleware(RequestIdMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_PATH), name="static")
    app.include_router(router)
    app.socket("/socket", UserSocket(settings), check_origin=OriginCheck.from_settings(settings))
    mount_dev_routes(app, settings)  # /dev/mailbox, in dev only
    return app
