"""Logging in and out in a browser (phx.gen.auth's UserSessionController and log-in page).

`/users/log-in` takes an email and password, or just an email to send a magic link to; the link
(`/users/log-in/{token}`) opens a page whose button logs in. Wording and redirects follow
phx.gen.auth: the same answer whether or not an email is a user's.

The log-in page is also where sudo mode sends a signed-in user whose last log-in is too old
(`require_sudo_mode`): they see it with their email filled in and come back to the page they
wanted after logging in again. A signed-in user still within the sudo window has nothing to
re-authenticate for and goes home.

Log-out is `POST /users/log-out` (a form can only POST; every page's navigation has one); the same
route also answers `DELETE` (phx.gen.auth's verb, for htmx's `hx-delete`), CSRF-checked alike.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import accounts
from my_app.errors import UnauthorizedError
from my_app.gettext import gettext as _
from my_app_web.flash import put_flash
from my_app_web.html import render
from my_app_web.plugs.auth import (
    SIGNED_IN_PATH,
    CurrentSession,
    Redirect,
    log_in_user,
    log_out_user,
)
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.plugs.password_check import authenticate
from my_app_web.plugs.rate_limit import count_email_request
from my_app_web.templating import path_for

router = APIRouter(prefix="/users", tags=["pages"], include_in_schema=False)

RETURN_TO_KEY = "user_return_to"
EMAIL_MAX_LENGTH = 160


async def redirect_unless_reauthenticating(session: CurrentSession) -> None:
    """The log-in page is for visitors, and for signed-in users whose sudo window has passed."""
    if session is not None and accounts.sudo_mode(session.authenticated_at):
        raise Redirect(SIGNED_IN_PATH)


@router.get(
    "/log-in",
    response_class=HTMLResponse,
    name="user_log_in",
    dependencies=[Depends(redirect_unless_reauthenticating)],
)
async def new(request: Request, session: CurrentSession) -> HTMLResponse:
    return _log_in_page(request, session, email=session.user.email if session is not None else "")


@router.post(
    "/log-in",
    name="user_log_in_create",
    dependencies=[Depends(verify_csrf), Depends(redirect_unless_reauthenticating)],
)
async def create(
    request: Request,
    session: CurrentSession,
    email: Annotated[str, Form(max_length=EMAIL_MAX_LENGTH)],
    password: Annotated[str | None, Form(max_length=72 * 4)] = None,
    remember_me: Annotated[bool, Form()] = False,
) -> Response:
    if not password:
        # "Email me a link": the same answer whether or not the address is a user's.
        await count_email_request(request, "magic", email)
        await accounts.request_login_link(email)
        put_flash(
            request, "info", _("If your email is in our system, you will receive instructions for logging in shortly.")
        )
        return RedirectResponse(path_for(request, "user_log_in"), status_code=303)
    try:
        # The API's log-in and this form share one count per account and per client IP.
        user = await authenticate(request, email, password)
    except UnauthorizedError:
        # In order to prevent user enumeration attacks, don't disclose whether the email is registered.
        put_flash(request, "error", _("Invalid email or password"))
        return _log_in_page(request, session, email=email, status_code=401)
    return await _logged_in(request, user, remember_me=remember_me, message=_("Welcome back!"))


@router.get("/log-in/{token}", response_class=HTMLResponse, name="user_magic_link")
async def magic_link(request: Request, token: str, session: CurrentSession) -> Response:
    """The page an emailed log-in link opens: a button logs in (a GET must not use up the link)."""
    if session is not None:
        return RedirectResponse(SIGNED_IN_PATH, status_code=303)
    user = await accounts.get_user_by_magic_link_token(token)
    if user is None:
        put_flash(request, "error", _("Magic link is invalid or it has expired."))
        return RedirectResponse(path_for(request, "user_log_in"), status_code=303)
    return render(request, "users/magic_link.html", page_title=_("Log in"), token=token, account=user)


@router.post("/log-in/{token}", name="user_magic_link_create", dependencies=[Depends(verify_csrf)])
async def magic_link_create(
    request: Request,
    token: str,
    remember_me: Annotated[bool, Form()] = False,
    action: Annotated[str | None, Form(alias="_action", max_length=20)] = None,
) -> RedirectResponse:
    user = await accounts.login_user_by_magic_link(token)
    if user is None:
        put_flash(request, "error", _("The link is invalid or it has expired."))
        return RedirectResponse(path_for(request, "user_log_in"), status_code=303)
    message = _("User confirmed successfully.") if action == "confirmed" else _("Welcome back!")
    return await _logged_in(request, user, remember_me=remember_me, message=message)


@router.api_route("/log-out", methods=["POST", "DELETE"], name="user_log_out", dependencies=[Depends(verify_csrf)])
async def delete(request: Request) -> RedirectResponse:
    response = RedirectResponse(SIGNED_IN_PATH, status_code=303)
    await log_out_user(request, response)
    put_flash(request, "info", _("Logged out successfully."))
    return response


def _log_in_page(
    request: Request, session: accounts.Session | None, *, email: str, status_code: int = 200
) -> HTMLResponse:
    settings = request.app.state.settings
    return render(
        request,
        "users/log_in.html",
        status_code=status_code,
        page_title=_("Log in"),
        email=email[:EMAIL_MAX_LENGTH],
        reauthenticating=session is not None,
        local_mailbox=settings.env == "dev",
    )


async def _logged_in(request: Request, user: accounts.User, *, remember_me: bool, message: str) -> RedirectResponse:
    # Read before log_in_user renews the session (no fixation), then put back for the next page.
    return_to = request.session.get(RETURN_TO_KEY)
    if not (isinstance(return_to, str) and return_to.startswith("/") and not return_to.startswith(("//", "/\\"))):
        return_to = SIGNED_IN_PATH  # only paths of this site: never an open redirect
    response = RedirectResponse(return_to, status_code=303)
    await log_in_user(request, response, user, remember_me=remember_me)
    put_flash(request, "info", message)
    return response
