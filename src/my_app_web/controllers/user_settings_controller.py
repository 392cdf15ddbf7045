"""Account settings pages (phx.gen.auth's settings): confirming an email change from the emailed link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from my_app import accounts
from my_app.errors import NotFoundError, ValidationError
from my_app_web.flash import put_flash
from my_app_web.plugs.auth import SIGNED_IN_PATH, require_authenticated_user

router = APIRouter(prefix="/users/settings", tags=["pages"], include_in_schema=False)


@router.get("/confirm-email/{token}", name="user_confirm_email")
async def confirm_email(
    request: Request, token: str, session: Annotated[accounts.Session, Depends(require_authenticated_user)]
) -> RedirectResponse:
    """Switch to the new address the link was sent to (signed in as the user who asked, as phx.gen.auth)."""
    try:
        await accounts.update_user_email(session.user, token)
    except (NotFoundError, ValidationError):
        put_flash(request, "error", "Email change link is invalid or it has expired.")
    else:
        put_flash(request, "info", "Email changed successfully.")
    return RedirectResponse(SIGNED_IN_PATH, status_code=303)
