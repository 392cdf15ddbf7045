"""Confirming an account (phx.gen.auth's UserConfirmationController): the page the emailed link
opens, whose button confirms, and a form to have the instructions sent again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from my_app import accounts
from my_app.gettext import gettext as _
from my_app_web.flash import put_flash
from my_app_web.html import render
from my_app_web.plugs.auth import SIGNED_IN_PATH, CurrentSession
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.plugs.rate_limit import count_email_request

router = APIRouter(prefix="/users/confirm", tags=["pages"], include_in_schema=False)


@router.get("", response_class=HTMLResponse, name="user_confirmation_new")
async def new(request: Request) -> HTMLResponse:
    return render(request, "users/confirmation_new.html", page_title=_("Resend confirmation instructions"), email="")


@router.post("", name="user_confirmation_create", dependencies=[Depends(verify_csrf)])
async def create(request: Request, email: Annotated[str, Form(max_length=160)]) -> RedirectResponse:
    """Send the instructions again; the same answer whether or not the address has an unconfirmed account."""
    await count_email_request(request, "confirm", email)  # one count with the API's resend
    await accounts.request_confirmation(email)
    put_flash(
        request,
        "info",
        _(
            "If your email is in our system and it has not been confirmed yet, "
            "you will receive an email with instructions shortly."
        ),
    )
    return RedirectResponse(SIGNED_IN_PATH, status_code=303)


@router.get("/{token}", response_class=HTMLResponse, name="user_confirm")
async def edit(request: Request, token: str) -> HTMLResponse:
    """The page the confirmation email links to; its button confirms (mail scanners only GET)."""
    return render(request, "users/confirm.html", page_title=_("Confirm account"), token=token)


@router.post("/{token}", name="user_confirm_update", dependencies=[Depends(verify_csrf)])
async def update(request: Request, token: str, session: CurrentSession) -> RedirectResponse:
    # Not logged in afterwards: a leaked link must not give access to the account (phx.gen.auth).
    if await accounts.confirm_user(token) is not None:
        put_flash(request, "info", _("User confirmed successfully."))
    elif session is None or session.user.confirmed_at is None:
        put_flash(request, "error", _("User confirmation link is invalid or it has expired."))
    # else: a signed-in, confirmed user followed a used link again (or a scanner did first): nothing to say.
    return RedirectResponse(SIGNED_IN_PATH, status_code=303)
