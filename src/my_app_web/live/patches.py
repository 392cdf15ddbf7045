"""What a live page pushes to the browser: htmx partial swaps, each aimed at one element by DOM id.

Each patch is an `<hx-partial>` (htmx 2: a `<template>` with a target and a swap style), so rows
of a table parse anywhere, and one SSE event can carry several. The seed's streams map onto them:

    insert("users", row_html)        stream_insert(socket, :users, user)        (at the end; at=0: first)
    replace("users-42", row_html)    stream_insert of an item already shown      (outerHTML)
    delete("users-42")               stream_delete(socket, :users, user)
    inner("live-region", html)       a re-render of a region (a refresh after a gap)

Examples:
    insert("users", '<tr id="users-1">...</tr>')
    # '<hx-partial hx-target="#users" hx-swap="beforeend"><tr id="users-1">...</tr></hx-partial>'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from markupsafe import escape

SwapStyle = Literal["beforeend", "afterbegin", "outerHTML", "innerHTML", "delete"]
_DOM_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_:.-]*$")


@dataclass(frozen=True, slots=True)
class Patch:
    """One swap: `html` put into (or in place of) the element whose id is `target`."""

    target: str
    swap: SwapStyle
    html: str = ""

    def __post_init__(self) -> None:
        if not _DOM_ID.match(self.target):
            raise ValueError(f"not a DOM id: {self.target!r}")

    def to_html(self) -> str:
        return f'<hx-partial hx-target="#{escape(self.target)}" hx-swap="{self.swap}">{self.html}</hx-partial>'


def insert(container_id: str, html: str, *, at: Literal[0, -1] = -1) -> Patch:
    """Add `html` (an element with its own id) to the container: at the end, or first with at=0."""
    return Patch(container_id, "afterbegin" if at == 0 else "beforeend", str(html))


def replace(dom_id: str, html: str) -> Patch:
    """Put `html` in place of the element with this id (it should carry the same id)."""
    return Patch(dom_id, "outerHTML", str(html))


def delete(dom_id: str) -> Patch:
    """Remove the element with this id."""
    return Patch(dom_id, "delete")


def inner(dom_id: str, html: str) -> Patch:
    """Replace the children of the element with this id."""
    return Patch(dom_id, "innerHTML", str(html))


def render(patches: list[Patch]) -> str:
    """The HTML of several patches, for one SSE event (or an htmx response)."""
    return "".join(patch.to_html() for patch in patches)
