"""One place that turns errors into responses (Phoenix's FallbackController, ErrorJSON, ErrorHTML).

API clients get DESIGN.md's JSON shapes; browsers asking for HTML get a rendered error page with
the same status. A 500 never carries the exception or a trace.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from my_app.errors import ForbiddenError, NotFoundError, UnauthorizedError, ValidationError
from my_app_web.plugs.auth import Redirect
from my_app_web.plugs.request_id import HEADER as REQUEST_ID_HEADER
from my_app_web.templating import templates

logger = logging.getLogger(__name__)


def error_response(request: Request, status_code: int, headers: dict[str, str] | None = None) -> Response:
    """`{"errors": {"detail": <reason phrase>}}`, or the HTML error page for browsers."""
    detail = HTTPStatus(status_code).phrase
    if _wants_html(request):
        return templates.TemplateResponse(
            request,
            "error/error.html",
            {"status_code": status_code, "detail": detail},
            status_code=status_code,
            headers=headers,
        )
    return JSONResponse({"errors": {"detail": detail}}, status_code=status_code, headers=headers)


def changeset_response(errors: dict[str, list[str]]) -> Response:
    """422 `{"errors": {field: [messages]}}` (ChangesetJSON)."""
    return JSONResponse({"errors": errors}, status_code=422)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
    return error_response(request, exc.status_code, dict(exc.headers) if exc.headers else None)


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
    # Starlette runs this handler outside every middleware, after the request-id plug has let go:
    # put the id back on the log line, and on the response so a client can quote it.
    request_id = request.scope.get("state", {}).get("request_id")
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, {REQUEST_ID_HEADER: request_id} if request_id else None)


def register_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _validation)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(UnauthorizedError, _unauthorized)
    app.add_exception_handler(ForbiddenError, _forbidden)
    app.add_exception_handler(Redirect, _redirect)
    app.add_exception_handler(Exception, _server_error)


def _wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept
