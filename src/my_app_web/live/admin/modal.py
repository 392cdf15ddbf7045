"""What the admin pages share: the modal a page shows over itself (rendered and answered by the
toolkit's `live.modals`, as the user pages' are) and where its edit form goes back to.

Validation messages come from the catalog context in English (the API's wording); the catalog's
own ones are marked here for the translation catalog, and translated as the pages render them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from my_app.gettext import N_
from my_app_web.live import Form

ReturnTo = Literal["index", "show"]
# The hidden field saying which page the edit modal was opened over (where Save and Cancel go).
RETURN_FIELD = "_return"
NO_ERRORS: Mapping[str, list[str]] = {}

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
