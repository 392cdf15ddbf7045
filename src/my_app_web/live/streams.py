"""A list on a live page whose items come and go (the seed's `stream`), by DOM id.

The page keeps only the ids it shows (never the items), so that an update about an item that is
not on the page pushes nothing, an insert of an item already shown replaces it in place, and a
delete of an unknown item is skipped: the browser never gets a swap without a target.

Examples:
    users = Stream("users")                 # <tbody id="users">, rows <tr id="users-<id>">
    users.reset(user.id for user in shown)  # after rendering the list
    users.insert(user.id, row_html)         # Patch: append, or replace the shown row
    users.update(user.id, row_html)         # Patch, or None when that user is not on the page
    users.delete(user.id)                   # Patch, or None
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections.abc import Iterable
from typing import Literal

from my_app_web.live import patches
from my_app_web.live.patches import Patch


class Stream:
    # The ids shown, interned and sorted in a tuple: 1,000 open pages of 50 rows each keep 50 shared
    # strings and 1,000 small tuples (a set would cost each page ~2 KB more); lookups bisect.
    __slots__ = ("_shown", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._shown: tuple[str, ...] = ()

    def dom_id(self, item_id: object) -> str:
        """The DOM id of an item's element: `<name>-<id>` (the seed's `dom_id`)."""
        return f"{self.name}-{item_id}"

    def reset(self, item_ids: Iterable[object]) -> None:
        """The items now on the page (after a full render)."""
        self._shown = tuple(sorted({sys.intern(str(item_id)) for item_id in item_ids}))

    def __contains__(self, item_id: object) -> bool:
        key = str(item_id)
        index = bisect_left(self._shown, key)
        return index < len(self._shown) and self._shown[index] == key

    def __len__(self) -> int:
        return len(self._shown)

    def insert(self, item_id: object, html: str, *, at: Literal[0, -1] = -1) -> Patch:
        if item_id in self:
            return patches.replace(self.dom_id(item_id), html)
        key = sys.intern(str(item_id))
        index = bisect_left(self._shown, key)
        self._shown = (*self._shown[:index], key, *self._shown[index:])
        return patches.insert(self.name, html, at=at)

    def update(self, item_id: object, html: str) -> Patch | None:
        return patches.replace(self.dom_id(item_id), html) if item_id in self else None

    def delete(self, item_id: object) -> Patch | None:
        if item_id not in self:
            return None
        key = str(item_id)
        self._shown = tuple(shown for shown in self._shown if shown != key)
        return patches.delete(self.dom_id(item_id))
