"""Choosing a new password from the emailed reset link (phx.gen.auth's reset-password page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import accounts
from my_app.errors import NotFoundError, ValidationError
from my_app_web.controllers.html import render
from my_app_web.flash import put_flash
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.templating import path_for

router = APIRouter(prefix="/users/reset-password", tags=["pages"], include_in_schema=False)

INVALID_LINK = "Reset password link is invalid or it has expired."


@router.get("/{token}", response_class=HTMLResponse, name="user_reset_password")
async def edit(request: Request, token: str) -> Response:
    if await accounts.get_user_by_reset_password_token(token) is None:
        put_flash(request, "error", INVALID_LINK)
        return RedirectResponse(path_for(request, "user_log_in"), status_code=303)
    return render(request, "users/reset_password.html", page_title="Reset password", token=token, errors={})


@router.post("/{token}", name="user_reset_password_update", dependencies=[Depends(verify_csrf)])
async def update(
    request: Request,
    token: str,
    password: Annotated[str, Form(max_length=72 * 4)],
    password_confirmation: Annotated[str, Form(max_length=72 * 4)],
) -> Response:
    if password != password_confirmation:
        return _form_with_errors(request, token, {"password_confirmation": ["does not match password"]})
    try:
        await accounts.reset_user_password(token, {"password": password})
    except NotFoundError:
        put_flash(request, "error", INVALID_LINK)
    except ValidationError as exc:
        return _form_with_errors(request, token, exc.errors)
    else:
        put_flash(request, "info", "Password reset successfully.")
    return RedirectResponse(path_for(request, "user_log_in"), status_code=303)


def _form_with_errors(request: Request, token: str, errors: dict[str, list[str]]) -> Response:
    return render(
        request, "users/reset_password.html", status_code=422, page_title="Reset password", token=token, errors=errors
    )
