"""Rendering the user pages' modal slot alone, for htmx requests that swap only it."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from my_app_web.flash import pop_flash
from my_app_web.html import render_fragment
from my_app_web.live.user_live.form import UserModal

SLOT_TEMPLATE = "user_live/slot.html"


def slot(request: Request, modal: UserModal | None, *, status_code: int = 200) -> HTMLResponse:
    """The modal slot alone, for an htmx request that swaps just the slot.

    An empty slot (the modal closed, or saved: the form's htmx submit follows the redirect here)
    comes with the flash messages, which the form takes out of band (`hx-select-oob`); an open
    one leaves them for the next page.
    """
    flash = pop_flash(request) if modal is None else {}
    return render_fragment(request, SLOT_TEMPLATE, status_code=status_code, modal=modal, flash=flash)
