"""Resetting a forgotten password (phx.gen.auth's UserResetPasswordController).

`/users/reset-password` asks for the email and answers the same whether or not it is a user's
(counted per address and client IP like the magic link); the emailed link opens
`/users/reset-password/{token}`, where the new password validates as you type. The user is not
logged in afterwards: a leaked link must not give access to the account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import accounts
from my_app.errors import NotFoundError, ValidationError
from my_app.gettext import gettext as _
from my_app_web.flash import put_flash
from my_app_web.gettext import translate_errors
from my_app_web.html import render, render_fragment
from my_app_web.live.forms import form_params, used_fields
from my_app_web.plugs.auth import SIGNED_IN_PATH
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.plugs.rate_limit import count_email_request
from my_app_web.templating import path_for

router = APIRouter(prefix="/users/reset-password", tags=["pages"], include_in_schema=False)

FORM_NAME = "user"
FIELDS = ("password", "password_confirmation")


def password_errors(params: Mapping[str, str], *, used: set[str] | None = None) -> dict[str, list[str]]:
    """What is wrong with a new password and its confirmation (phx.gen.auth's password changeset).

    `used`: only these fields' errors (live validation says nothing of a field not reached yet).
    """
    errors = dict(accounts.change_user_password(None, {"password": params.get("password", "")}).errors)
    if params.get("password_confirmation", "") != params.get("password", ""):
        errors["password_confirmation"] = ["does not match password"]
    return {field: messages for field, messages in errors.items() if used is None or field in used}


@router.get("", response_class=HTMLResponse, name="user_reset_password_new")
async def new(request: Request) -> HTMLResponse:
    return render(request, "users/reset_password_new.html", page_title=_("Forgot your password?"), email="")


@router.post("", name="user_reset_password_create", dependencies=[Depends(verify_csrf)])
async def create(request: Request, email: Annotated[str, Form(max_length=160)]) -> RedirectResponse:
    await count_email_request(request, "reset", email)  # one count with the API's reset requests
    await accounts.request_password_reset(email)
    put_flash(
        request,
        "info",
        _("If your email is in our system, you will receive instructions to reset your password shortly."),
    )
    return RedirectResponse(SIGNED_IN_PATH, status_code=303)


@router.get("/{token}", response_class=HTMLResponse, name="user_reset_password")
async def edit(request: Request, token: str) -> Response:
    if await accounts.get_user_by_reset_password_token(token) is None:
        put_flash(request, "error", _("Reset password link is invalid or it has expired."))
        return RedirectResponse(path_for(request, "user_log_in"), status_code=303)
    return _edit_page(request, token, {})


@router.post("/{token}", name="user_reset_password_update", dependencies=[Depends(verify_csrf)])
async def update(request: Request, token: str) -> Response:
    params = await form_params(request)
    errors = password_errors(params)
    if errors:
        return _edit_page(request, token, errors, status_code=422)
    try:
        await accounts.reset_user_password(token, {"password": params["password"]})
    except NotFoundError:
        put_flash(request, "error", _("Reset password link is invalid or it has expired."))
    except ValidationError as exc:
        return _edit_page(request, token, exc.errors, status_code=422)
    else:
        put_flash(request, "info", _("Password reset successfully."))
    return RedirectResponse(path_for(request, "user_log_in"), status_code=303)


@router.post("/{token}/validate", name="user_reset_password_validate", dependencies=[Depends(verify_csrf)])
async def validate(request: Request, token: str) -> HTMLResponse:
    """Live validation of the new password and its confirmation: only the error blocks."""
    params = await form_params(request)
    errors = password_errors(params, used=used_fields(params))
    return render_fragment(
        request, "users/_form_errors.html", form_name=FORM_NAME, fields=FIELDS, errors=translate_errors(errors)
    )


def _edit_page(
    request: Request, token: str, errors: Mapping[str, list[str]], *, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "users/reset_password.html",
        status_code=status_code,
        page_title=_("Reset password"),
        token=token,
        errors=translate_errors(errors),
    )
