"""Logging in and out in a browser (phx.gen.auth's UserSessionController and log-in page).

`/users/log-in` takes an email and password, or just an email to send a magic link to; the link
(`/users/log-in/{token}`) opens a page whose button logs in. Wording and redirects follow
phx.gen.auth: the same answer whether or not an email is a user's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import accounts
from my_app.errors import UnauthorizedError
from my_app_web.controllers.html import render
from my_app_web.flash import put_flash
from my_app_web.plugs.auth import (
    SIGNED_IN_PATH,
    CurrentSession,
    log_in_user,
    log_out_user,
    redirect_if_user_is_authenticated,
)
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.plugs.password_check import authenticate
from my_app_web.plugs.rate_limit import count_email_request
from my_app_web.templating import path_for

router = APIRouter(prefix="/users", tags=["pages"], include_in_schema=False)

RETURN_TO_KEY = "user_return_to"
MAGIC_LINK_SENT = "If your email is in our system, you will receive instructions for logging in shortly."
INVALID_LINK = "The link is invalid or it has expired."


@router.get(
    "/log-in",
    response_class=HTMLResponse,
    name="user_log_in",
    dependencies=[Depends(redirect_if_user_is_authenticated)],
)
async def new(request: Request) -> HTMLResponse:
    return render(request, "users/log_in.html", page_title="Log in", email="")


@router.post(
    "/log-in",
    name="user_log_in_create",
    dependencies=[Depends(verify_csrf), Depends(redirect_if_user_is_authenticated)],
)
async def create(
    request: Request,
    email: Annotated[str, Form(max_length=160)],
    password: Annotated[str | None, Form(max_length=72 * 4)] = None,
    remember_me: Annotated[bool, Form()] = False,
) -> Response:
    if not password:
        # "Email me a link": the same answer whether or not the address is a user's.
        await count_email_request(request, "magic", email)
        await accounts.request_login_link(email)
        put_flash(request, "info", MAGIC_LINK_SENT)
        return RedirectResponse(path_for(request, "user_log_in"), status_code=303)
    try:
        # The API's log-in and this form share one count per account and per client IP.
        user = await authenticate(request, email, password)
    except UnauthorizedError:
        put_flash(request, "error", "Invalid email or password")
        return render(request, "users/log_in.html", status_code=401, page_title="Log in", email=email)
    return await _logged_in(request, user, remember_me=remember_me)


@router.get("/log-in/{token}", response_class=HTMLResponse, name="user_magic_link")
async def magic_link(request: Request, token: str, session: CurrentSession) -> Response:
    """The page an emailed log-in link opens: a button logs in (a GET must not use up the link)."""
    if session is not None:
        return RedirectResponse(SIGNED_IN_PATH, status_code=303)
    return render(request, "users/magic_link.html", page_title="Log in", token=token)


@router.post("/log-in/{token}", name="user_magic_link_create", dependencies=[Depends(verify_csrf)])
async def magic_link_create(
    request: Request, token: str, remember_me: Annotated[bool, Form()] = False
) -> RedirectResponse:
    user = await accounts.login_user_by_magic_link(token)
    if user is None:
        put_flash(request, "error", INVALID_LINK)
        return RedirectResponse(path_for(request, "user_log_in"), status_code=303)
    return await _logged_in(request, user, remember_me=remember_me)


@router.post("/log-out", name="user_log_out", dependencies=[Depends(verify_csrf)])
async def delete(request: Request) -> RedirectResponse:
    response = RedirectResponse(SIGNED_IN_PATH, status_code=303)
    await log_out_user(request, response)
    put_flash(request, "info", "Logged out successfully.")
    return response


async def _logged_in(request: Request, user: accounts.User, *, remember_me: bool) -> RedirectResponse:
    # Read before log_in_user renews the session (no fixation), then put back for the next page.
    return_to = request.session.get(RETURN_TO_KEY)
    if not (isinstance(return_to, str) and return_to.startswith("/") and not return_to.startswith("//")):
        return_to = SIGNED_IN_PATH  # only paths of this site: never an open redirect
    response = RedirectResponse(return_to, status_code=303)
    await log_in_user(request, response, user, remember_me=remember_me)
    put_flash(request, "info", "Welcome back!")
    return response
