"""Rendering the user pages: a whole live page with a status and stream URL of our choosing, and
the modal slot alone for htmx requests that swap only it."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from my_app_web.controllers.html import render, render_fragment
from my_app_web.flash import pop_flash
from my_app_web.live import LivePage
from my_app_web.live.user_live.form import UserModal

SLOT_TEMPLATE = "user_live/slot.html"


async def render_live(request: Request, page: LivePage, *, live_url: str, status_code: int = 200) -> HTMLResponse:
    """`live(request, page)`'s page, with its status (422: a form refused) and the URL of its stream.

    A refused form is answered at the form's POST address; the page's stream is the list's (or the
    user's) GET address, never the POST's.
    """
    assigns = await page.assigns()
    response = render(
        request,
        page.template,
        status_code=status_code,
        live_url=live_url,
        region_template=page.region_template,
        **assigns,
    )
    response.headers["vary"] = "Accept"
    return response


def slot(request: Request, modal: UserModal | None, *, status_code: int = 200) -> HTMLResponse:
    """The modal slot alone, for an htmx request that swaps just the slot.

    An empty slot (the modal closed, or saved: the form's htmx submit follows the redirect here)
    comes with the flash messages, which the form takes out of band (`hx-select-oob`); an open
    one leaves them for the next page.
    """
    flash = pop_flash(request) if modal is None else {}
    return render_fragment(request, SLOT_TEMPLATE, status_code=status_code, modal=modal, flash=flash)
