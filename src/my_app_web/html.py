"""Rendering a browser page: the template, plus what every page needs (flash messages, the CSRF
token, the signed-in user for the navigation)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from my_app_web.flash import pop_flash
from my_app_web.plugs.auth import current_user
from my_app_web.plugs.csrf import csrf_token
from my_app_web.templating import templates


def page_context(request: Request, **assigns: Any) -> dict[str, Any]:
    """What every template may use (`request`, `csrf_token`, `current_user`), plus `assigns`.

    For fragments too (a live page's rows, a form re-rendered by live validation): unlike
    `render`, it leaves the flash messages for the next whole page.
    """
    return {"request": request, "csrf_token": csrf_token(request), "current_user": current_user(request), **assigns}


def render(request: Request, template: str, *, status_code: int = 200, **assigns: Any) -> HTMLResponse:
    """Render `template` with `assigns`, the flash messages to show now and the session's CSRF token.

    Examples:
        return render(request, "users/log_in.html", page_title="Log in", email="")
    """
    context = page_context(request, flash=pop_flash(request), **assigns)
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def render_fragment(request: Request, template: str, *, status_code: int = 200, **assigns: Any) -> HTMLResponse:
    """Render a part of a page (an htmx response): no layout, and the flash stays for the next page."""
    return templates.TemplateResponse(request, template, page_context(request, **assigns), status_code=status_code)
