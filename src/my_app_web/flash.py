"""Flash messages: one-shot notices kept in the session until the next page shows them."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request

FLASH_KEY = "_flash"
FlashKind = Literal["info", "error"]


def put_flash(request: Request, kind: FlashKind, message: str) -> None:
    # A new dict, not the stored one changed in place: the session saves only what it sees assigned.
    flash = request.session.get(FLASH_KEY)
    request.session[FLASH_KEY] = {**(flash if isinstance(flash, dict) else {}), kind: message}


def pop_flash(request: Request) -> dict[str, str]:
    """The messages to show now; they are gone from the session afterwards."""
    flash = request.session.pop(FLASH_KEY, {})
    return flash if isinstance(flash, dict) else {}
