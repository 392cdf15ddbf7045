"""Account settings (phx.gen.auth's UserSettingsController): change the email (a confirmation link
goes to the new address), the password (every session is logged out, this one is logged back in
with a fresh session), and the language of pages and emails.

The page and its changes are behind sudo mode: a log-in older than SUDO_MODE_WINDOW sends the user
to the log-in page first, and back here afterwards. The emailed link that confirms a new address
(`/users/settings/confirm-email/{token}`) needs a signed-in user, as in phx.gen.auth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import accounts
from my_app.errors import NotFoundError, ValidationError
from my_app.gettext import get_locale, use_locale
from my_app.gettext import gettext as _
from my_app_web.controllers.user_reset_password_controller import password_errors
from my_app_web.controllers.user_session_controller import RETURN_TO_KEY
from my_app_web.flash import put_flash
from my_app_web.gettext import translate_errors
from my_app_web.html import render, render_fragment
from my_app_web.live.forms import form_params, used_fields
from my_app_web.plugs.auth import SIGNED_IN_PATH, Redirect, log_in_user, require_authenticated_user, require_sudo_mode
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.templating import path_for

router = APIRouter(prefix="/users/settings", tags=["pages"], include_in_schema=False)

EMAIL_FORM = "email_change"
PASSWORD_FORM = "password_change"  # noqa: S105 - a form name, not a secret
LOCALE_FORM = "locale_change"
PASSWORD_FIELDS = ("password", "password_confirmation")


async def sudo_session(
    request: Request, session: Annotated[accounts.Session, Depends(require_authenticated_user)]
) -> accounts.Session:
    """`require_sudo_mode`, and back to the settings page after the log-in it asks for."""
    try:
        return await require_sudo_mode(request, session)
    except Redirect:
        request.session[RETURN_TO_KEY] = path_for(request, "user_settings")
        raise


SudoSession = Annotated[accounts.Session, Depends(sudo_session)]
SignedIn = Annotated[accounts.Session, Depends(require_authenticated_user)]


@router.get("", response_class=HTMLResponse, name="user_settings")
async def edit(request: Request, session: SudoSession) -> HTMLResponse:
    return _page(request, session.user)


@router.post("/email", name="user_settings_update_email", dependencies=[Depends(verify_csrf)])
async def update_email(request: Request, session: SudoSession) -> Response:
    params = await form_params(request)
    changeset = accounts.change_user_email(session.user, params)
    try:
        if not changeset.valid:
            raise ValidationError(changeset.errors)
        await accounts.request_user_email_update(session.user, {"email": params.get("email", "")})
    except ValidationError as exc:
        return _page(
            request, session.user, email=params.get("email", ""), email_form_errors=exc.errors, status_code=422
        )
    put_flash(request, "info", _("A link to confirm your email change has been sent to the new address."))
    return RedirectResponse(path_for(request, "user_settings"), status_code=303)


@router.post("/email/validate", name="user_settings_validate_email", dependencies=[Depends(verify_csrf)])
async def validate_email(request: Request, session: SignedIn) -> HTMLResponse:
    params = await form_params(request)
    used = used_fields(params)
    errors = {
        field: messages
        for field, messages in accounts.change_user_email(session.user, params).errors.items()
        if field in used
    }
    return _errors(request, EMAIL_FORM, ("email",), errors)


@router.post("/password", name="user_settings_update_password", dependencies=[Depends(verify_csrf)])
async def update_password(request: Request, session: SudoSession) -> Response:
    params = await form_params(request)
    errors = password_errors(params)
    if errors:
        return _page(request, session.user, password_form_errors=errors, status_code=422)
    try:
        user = await accounts.update_user_password(session.user, {"password": params["password"]})
    except ValidationError as exc:
        return _page(request, session.user, password_form_errors=exc.errors, status_code=422)
    # Every session and token of the user is gone now: this browser gets a fresh session (and keeps
    # its remember-me cookie if it had one), the others are logged out.
    settings = request.app.state.settings
    response = RedirectResponse(path_for(request, "user_settings"), status_code=303)
    await log_in_user(request, response, user, remember_me=settings.remember_me_cookie in request.cookies)
    put_flash(request, "info", _("Password updated successfully."))
    return response


@router.post("/password/validate", name="user_settings_validate_password", dependencies=[Depends(verify_csrf)])
async def validate_password(request: Request, session: SignedIn) -> HTMLResponse:
    params = await form_params(request)
    return _errors(request, PASSWORD_FORM, PASSWORD_FIELDS, password_errors(params, used=used_fields(params)))


@router.post("/locale", name="user_settings_update_locale", dependencies=[Depends(verify_csrf)])
async def update_locale(request: Request, session: SudoSession) -> Response:
    params = await form_params(request)
    locale = params.get("locale") or None
    try:
        user = await accounts.update_user_locale(accounts.Scope.for_user(session.user), session.user, locale)
    except ValidationError as exc:
        return _page(request, session.user, locale_form_errors=exc.errors, status_code=422)
    with use_locale(user.locale or get_locale()):
        # Said in the language just chosen, which the next page is in.
        put_flash(request, "info", _("Language updated successfully."))
    return RedirectResponse(path_for(request, "user_settings"), status_code=303)


@router.get("/confirm-email/{token}", name="user_confirm_email")
async def confirm_email(request: Request, token: str, session: SignedIn) -> RedirectResponse:
    """Switch to the new address the link was sent to (signed in as the user who asked, as phx.gen.auth)."""
    try:
        await accounts.update_user_email(session.user, token)
    except (NotFoundError, ValidationError):
        put_flash(request, "error", _("Email change link is invalid or it has expired."))
    else:
        put_flash(request, "info", _("Email changed successfully."))
    # Home, as before this page existed (tests/my_app_web/test_links.py pins it); phx.gen.auth 1.8
    # goes to the settings page instead.
    return RedirectResponse(SIGNED_IN_PATH, status_code=303)


def _errors(request: Request, form_name: str, fields: tuple[str, ...], errors: Mapping[str, list[str]]) -> HTMLResponse:
    return render_fragment(
        request, "users/_form_errors.html", form_name=form_name, fields=fields, errors=translate_errors(errors)
    )


def _page(
    request: Request,
    user: accounts.User,
    *,
    email: str | None = None,
    email_form_errors: Mapping[str, list[str]] | None = None,
    password_form_errors: Mapping[str, list[str]] | None = None,
    locale_form_errors: Mapping[str, list[str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    assigns: dict[str, Any] = {
        "email": user.email if email is None else email,
        "email_errors": translate_errors(email_form_errors or {}),
        "password_errors": translate_errors(password_form_errors or {}),
        "locale_errors": translate_errors(locale_form_errors or {}),
        "user_locale": user.locale or "",
    }
    return render(request, "users/settings.html", status_code=status_code, page_title=_("Account Settings"), **assigns)
