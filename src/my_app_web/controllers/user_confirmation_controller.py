"""Confirming an account from the emailed link (phx.gen.auth's confirmation page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from my_app import accounts
from my_app_web.controllers.html import render
from my_app_web.flash import put_flash
from my_app_web.plugs.auth import SIGNED_IN_PATH
from my_app_web.plugs.csrf import verify_csrf

router = APIRouter(prefix="/users/confirm", tags=["pages"], include_in_schema=False)


@router.get("/{token}", response_class=HTMLResponse, name="user_confirm")
async def edit(request: Request, token: str) -> HTMLResponse:
    """The page the confirmation email links to; its button confirms (mail scanners only GET)."""
    return render(request, "users/confirm.html", page_title="Confirm account", token=token)


@router.post("/{token}", name="user_confirm_update", dependencies=[Depends(verify_csrf)])
async def update(request: Request, token: str) -> RedirectResponse:
    if await accounts.confirm_user(token) is None:
        put_flash(request, "error", "User confirmation link is invalid or it has expired.")
    else:
        put_flash(request, "info", "User confirmed successfully.")
    return RedirectResponse(SIGNED_IN_PATH, status_code=303)
