"""What the admin pages share: the modal a page shows over itself, and how one URL answers with the
whole page, just the modal slot (htmx) or the page's live stream (the same steps as `user_live`).

Validation messages come from the catalog context in English (the API's wording); the catalog's
own ones are marked here for the translation catalog, and translated as the pages render them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from my_app.gettext import N_
from my_app_web.flash import pop_flash
from my_app_web.html import render_fragment
from my_app_web.live import Form, LivePage, hx_target, is_live_stream, live

ReturnTo = Literal["index", "show"]
# The hidden field saying which page the edit modal was opened over (where Save and Cancel go).
RETURN_FIELD = "_return"
NO_ERRORS: Mapping[str, list[str]] = {}
SLOT_TEMPLATE = "admin/slot.html"
ERRORS_TEMPLATE = "admin/errors.html"

# The catalog's validation messages beyond the common ones (`my_app_web.gettext.ERROR_MESSAGES`).
# The two limits are `catalog.product.PRICE_LIMIT` and `STOCK_LIMIT` as the core writes them: a
# changed limit is shown in English until its message is added here.
CATALOG_ERROR_MESSAGES = (
    N_("has invalid format"),
    N_("must be greater than or equal to 0"),
    N_("must have at most 2 decimal places"),
    N_("must be less than 10000000000"),
    N_("must be less than 2147483648"),
    N_("does not exist"),
    N_("are still associated with this entry"),
)


@dataclass(frozen=True)
class AdminModal:
    """The modal a page shows over itself: a form for a new record, or for editing one.

    `options`: the choices of the form's select fields, by field (a product's categories).
    """

    title: str
    form: Form
    fields: tuple[str, ...]
    action: str
    validate: str
    cancel_url: str
    return_to: ReturnTo = "index"
    options: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)


def return_to_of(params: dict[str, str]) -> ReturnTo:
    """Where an edit form was opened (and goes back to); the field is taken out of `params`."""
    return "show" if params.pop(RETURN_FIELD, None) == "show" else "index"


def slot(request: Request, template: str, modal: AdminModal | None, *, status_code: int = 200) -> HTMLResponse:
    """The modal slot alone (`template`'s `modal_slot` macro), for an htmx request that swaps just it.

    An empty slot (closed, or saved: the form's htmx submit follows the redirect here) brings the
    flash messages, which the form takes out of band; an open one leaves them for the next page.
    """
    flash = pop_flash(request) if modal is None else {}
    return render_fragment(
        request, SLOT_TEMPLATE, status_code=status_code, modal_template=template, modal=modal, flash=flash
    )


def errors_fragment(request: Request, form_name: str, fields: Sequence[str], errors: Mapping[str, Any]) -> HTMLResponse:
    """A live-validation answer: each field's error block, swapped out of band."""
    return render_fragment(request, ERRORS_TEMPLATE, form_name=form_name, fields=fields, errors=errors)


async def modal_page(
    request: Request,
    make_page: Callable[[AdminModal | None], LivePage],
    modal: AdminModal | None,
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
