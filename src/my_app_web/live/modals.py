"""Pages with a modal over them (the seed's `.modal` over an index or show page): one URL answers
with the whole page, the modal slot alone (an htmx request that targets the slot), or, for the
page's EventSource, its live stream; and live validation answers with each field's error block.

Used by the user pages (`user_live`) and the catalog's admin pages (`admin`): a page module keeps
its own modal dataclass and its `_modal.html` with a `modal_slot(modal)` macro.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from my_app_web.flash import pop_flash
from my_app_web.html import render_fragment
from my_app_web.live.forms import hx_target
from my_app_web.live.page import LivePage, is_live_stream, live

M = TypeVar("M")
SLOT_TEMPLATE = "live/modal_slot.html"
ERRORS_TEMPLATE = "live/form_errors.html"


def slot(request: Request, modal_template: str, modal: object | None, *, status_code: int = 200) -> HTMLResponse:
    """The modal slot alone (`modal_template`'s `modal_slot` macro), for an htmx request that swaps just it.

    An empty slot (closed, or saved: the form's htmx submit follows the redirect here) brings the
    flash messages, which the form takes out of band; an open one leaves them for the next page.
    """
    flash = pop_flash(request) if modal is None else {}
    return render_fragment(
        request, SLOT_TEMPLATE, status_code=status_code, modal_template=modal_template, modal=modal, flash=flash
    )


def errors_fragment(request: Request, form_name: str, fields: Sequence[str], errors: Mapping[str, Any]) -> HTMLResponse:
    """A live-validation answer: each field's error block, swapped out of band."""
    return render_fragment(request, ERRORS_TEMPLATE, form_name=form_name, fields=fields, errors=errors)


async def modal_page(
    request: Request,
    make_page: Callable[[M | None], LivePage],
    modal: M | None,
    *,
    slot_id: str,
    modal_template: str,
    live_url: str,
    status_code: int = 200,
) -> Response:
    """A page with `modal` open over it: the whole page, just the slot (htmx asks for `slot_id`),
    or, for its EventSource, the page's stream (the modal is not live)."""
    if is_live_stream(request):
        return await live(request, make_page(None))
    if hx_target(request) == slot_id:
        response: Response = slot(request, modal_template, modal, status_code=status_code)
    else:
        response = await live(request, make_page(modal), live_url=live_url, status_code=status_code)
    if status_code != 200:
        response.headers["hx-push-url"] = "false"  # a form refused: the address stays the modal's
    return response
