"""Signing up in a browser (phx.gen.auth's UserRegistrationController and registration page).

`GET /users/register` shows the form; it validates as you type (`POST /users/register/validate`,
the context's changeset, no write and no "already taken" check: that answer is kept for a real
sign-up, which is counted per client IP); `POST /users/register` signs up through
`accounts.register_user` (which enqueues the welcome and confirmation emails) and sends the
person to the log-in page, told to check their email, as phx.gen.auth 1.8 does.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import accounts
from my_app.errors import ValidationError
from my_app.gettext import gettext as _
from my_app_web.flash import put_flash
from my_app_web.gettext import translate_errors
from my_app_web.html import render, render_fragment
from my_app_web.live.forms import form_params, used_fields
from my_app_web.plugs.auth import redirect_if_user_is_authenticated
from my_app_web.plugs.client_ip import client_ip
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.plugs.rate_limit import limiter_of
from my_app_web.templating import path_for

router = APIRouter(prefix="/users/register", tags=["pages"], include_in_schema=False)

FORM_NAME = "user"
FIELDS = ("email", "name", "password")


@router.get(
    "",
    response_class=HTMLResponse,
    name="user_registration_new",
    dependencies=[Depends(redirect_if_user_is_authenticated)],
)
async def new(request: Request) -> HTMLResponse:
    return _page(request, {}, {})


@router.post(
    "",
    name="user_registration_create",
    dependencies=[Depends(verify_csrf), Depends(redirect_if_user_is_authenticated)],
)
async def create(request: Request) -> Response:
    params = await form_params(request)
    changeset = accounts.change_user_registration(params)
    if not changeset.valid:
        return _page(request, params, changeset.errors, status_code=422)
    # Counted only for sign-ups that reach the context: "has already been taken" tells whether an
    # address has an account, so the API's per-IP limit (one count for both doors) bounds that.
    limiter = limiter_of(request)
    await limiter.hit(limiter.registration, f"register:ip:{client_ip(request)}")
    try:
        user = await accounts.register_user(params)
    except ValidationError as exc:
        return _page(request, params, exc.errors, status_code=422)
    message = _("An email was sent to %(email)s, please access it to confirm your account.", email=user.email)
    put_flash(request, "info", message)
    return RedirectResponse(path_for(request, "user_log_in"), status_code=303)


@router.post("/validate", name="user_registration_validate", dependencies=[Depends(verify_csrf)])
async def validate(request: Request) -> HTMLResponse:
    """Live validation: the error blocks of the fields typed in so far, swapped out of band."""
    params = await form_params(request)
    used = used_fields(params)
    errors = {
        field: messages for field, messages in accounts.change_user_registration(params).errors.items() if field in used
    }
    return render_fragment(
        request, "users/_form_errors.html", form_name=FORM_NAME, fields=FIELDS, errors=translate_errors(errors)
    )


def _page(
    request: Request, values: Mapping[str, str], errors: Mapping[str, list[str]], *, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "users/register.html",
        status_code=status_code,
        page_title=_("Register"),
        values={field: values.get(field, "") for field in FIELDS if field != "password"},
        errors=translate_errors(errors),
    )
