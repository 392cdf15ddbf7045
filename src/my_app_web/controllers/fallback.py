"""One place that turns errors into responses (Phoenix's FallbackController, ErrorJSON, ErrorHTML).

API clients get DESIGN.md's JSON shapes; browsers asking for HTML get a rendered error page with
the same status. A 500 never carries the exception or a trace. The database being unreachable
(restarting, down, no free connection in time) answers 503 `{"errors": {"detail": "Service
Unavailable"}}` with `retry-after`, at once: nothing waits for it to come back.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from my_app import cache, log, repo
from my_app.errors import ForbiddenError, NotFoundError, UnauthorizedError, ValidationError
from my_app_web.html import page_context
from my_app_web.plugs.auth import Redirect
from my_app_web.plugs.request_id import HEADER as REQUEST_ID_HEADER
from my_app_web.templating import templates

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 1  # a database restart takes about a second; clients may retry after that


def error_response(request: Request, status_code: int, headers: dict[str, str] | None = None) -> Response:
    """`{"errors": {"detail": <reason phrase>}}`, or the HTML error page for browsers."""
    detail = HTTPStatus(status_code).phrase
    if _wants_html(request):
        assigns = {"status_code": status_code, "detail": detail}
        # Within the session (most errors): the page's navigation and CSRF token, as on any page.
        context = page_context(request, **assigns) if "session" in request.scope else assigns
        return templates.TemplateResponse(
            request, "error/error.html", context, status_code=status_code, headers=headers
        )
    return JSONResponse({"errors": {"detail": detail}}, status_code=status_code, headers=headers)


def changeset_response(errors: dict[str, list[str]]) -> Response:
    """422 `{"errors": {field: [messages]}}` (ChangesetJSON)."""
    return JSONResponse({"errors": errors}, status_code=422)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
    headers = dict(exc.headers) if exc.headers else None
    # A route's 405 names every method of its path; a mount's (static files) keeps its own `allow`.
    if exc.status_code == 405 and (allowed := allowed_methods(request)):
        headers = {name: value for name, value in (headers or {}).items() if name.lower() != "allow"}
        headers["allow"] = allowed
    return error_response(request, exc.status_code, headers)


def allowed_methods(request: Request) -> str:
    """Every method of the route template the request's path matched, for a 405's `allow` (RFC 9110).

    Each method of a path is a route of its own, and Starlette's 405 names only the first of
    them: `OPTIONS /api/users` said `allow: GET` although `POST /api/users` exists. The template
    is the first one the path matched, as in the routing: `OPTIONS /api/users/me` names the
    methods of `/api/users/me`, not those of `/api/users/{id}` that the path matches as well.

    Examples:
        allowed_methods(<OPTIONS /api/users>)  # "GET, POST"
        allowed_methods(<POST /static/app-1f3e.css>)  # "" (no route: a mount answered)
    """
    routes = [route for route in request.app.router.routes if isinstance(route, Route) and route.methods]
    template = next((route.path for route in routes if route.matches(request.scope)[0] != Match.NONE), None)
    methods = {method for route in routes if route.path == template for method in route.methods or ()}
    return ", ".join(sorted(methods))


async def _request_validation(request: Request, exc: Exception) -> Response:
    # Malformed JSON, a missing wrapper key or a wrong type: the client sent a bad request.
    return error_response(request, 400)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)  # noqa: S101
    return changeset_response(exc.errors)


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(request, 404)


async def _unauthorized(request: Request, exc: Exception) -> Response:
    return error_response(request, 401, {"www-authenticate": "Bearer"})


async def _forbidden(request: Request, exc: Exception) -> Response:
    return error_response(request, 403)


async def _redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Redirect)  # noqa: S101
    return RedirectResponse(exc.location, status_code=303)


async def _server_error(request: Request, exc: Exception) -> Response:
    """500, or 503 when the database cannot be reached (a restart, an outage): try again shortly.

    One line per failed request; its traceback only the first time this error (type and place)
    is seen within `log.TRACEBACK_INTERVAL` (the log's TracebackLimiter drops repeats).
    """
    # For errors raised in a middleware, Starlette runs this handler outside every middleware, after
    # the request-id plug has let go: put the id back on the log line, and on the response so a
    # client can quote it.
    request_id = request.scope.get("state", {}).get("request_id")
    headers = {REQUEST_ID_HEADER: request_id} if request_id else {}
    # A catalog write is refused while the shared cache is unreachable (my_app.cache): 503 as well.
    unavailable = repo.unavailable(exc) or isinstance(exc, cache.CacheUnavailableError)
    status_code = 503 if unavailable else 500
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        logger.log(
            logging.WARNING if status_code == 503 else logging.ERROR,
            "%s on %s %s (%d): %s",
            "service unavailable" if status_code == 503 else "unhandled error",
            request.method,
            request.url.path,
            status_code,
            log.one_line(exc),
            exc_info=exc,
        )
    if status_code == 503:
        headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    return error_response(request, status_code, headers or None)


def register_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _validation)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(UnauthorizedError, _unauthorized)
    app.add_exception_handler(ForbiddenError, _forbidden)
    app.add_exception_handler(Redirect, _redirect)
    # Every other error. Starlette gives the `Exception` handler to ServerErrorMiddleware, outside all
    # middleware, which answers and then re-raises to the server: uvicorn logs "Exception in ASGI
    # application" with a second traceback (and, had the answer started, sends its own plain 500).
    # ErrorBoundary answers errors of the routes itself and stops there; the `Exception` entry is
    # left for errors raised by a middleware outside it.
    app.add_middleware(ErrorBoundary)
    app.add_exception_handler(Exception, _server_error)


class ErrorBoundary:
    """Pure ASGI middleware: an error from inside it ends in our answer (500/503), never in the server's.

    Added by `register_exception_handlers` after the endpoint's other middleware, so it is the
    outermost of them (inside the edges), around the session, the body limit, the routes and
    FastAPI's exception handlers: whatever they let through
    (errors with no handler of their own, exception groups) is answered by `_server_error`. An
    error after the answer started cannot change it any more: it is logged (one line) and the
    response ends there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            request = Request(scope)
            if started:
                logger.error(
                    "%s %s failed after its answer started: %s",
                    request.method,
                    request.url.path,
                    log.one_line(exc),
                    exc_info=exc,
                )
                return
            response = await _server_error(request, exc)
            await response(scope, receive, send)


def _wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept
