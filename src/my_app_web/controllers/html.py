"""Rendering a browser page: the template, plus what every page needs (flash messages, the CSRF token)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from my_app_web.flash import pop_flash
from my_app_web.plugs.csrf import csrf_token
from my_app_web.templating import templates


def render(request: Request, template: str, *, status_code: int = 200, **assigns: Any) -> HTMLResponse:
    """Render `template` with `assigns`, the flash messages to show now and the session's CSRF token.

    Examples:
        return render(request, "users/log_in.html", page_title="Log in", email="")
    """
    context = {"flash": pop_flash(request), "csrf_token": csrf_token(request), **assigns}
    return templates.TemplateResponse(request, template, context, status_code=status_code)
