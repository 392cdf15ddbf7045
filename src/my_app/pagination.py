"""Keyset pagination: pages that stay stable while rows are inserted (`?limit=&cursor=`).

A cursor is the opaque, url-safe encoding of the last row's sort key (inserted_at, id). The next
page holds rows strictly after it, so a concurrent insert never shifts or repeats rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from my_app.encoding import b64url_decode, b64url_encode
from my_app.errors import ValidationError

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    limit: int
    next_cursor: str | None


def encode_cursor(inserted_at: datetime, row_id: uuid.UUID) -> str:
    payload = orjson.dumps([inserted_at.isoformat(), str(row_id)])
    return b64url_encode(payload)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The sort key inside a cursor; ValidationError for anything we did not hand out."""
    try:
        decoded = b64url_decode(cursor)
        if decoded is None:
            raise ValueError(cursor)
        inserted_at, row_id = orjson.loads(decoded)
        return datetime.fromisoformat(inserted_at), uuid.UUID(row_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise ValidationError({"cursor": ["is invalid"]}) from None


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": [f"must be between 1 and {MAX_LIMIT}"]})
    return limit


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    *,
    inserted_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    limit: int | None,
    cursor: str | None,
    descending: bool = False,
) -> Page[Any]:
    """One page of `statement`, oldest first (newest first when `descending`), after `cursor`.

    `inserted_at` names the sort column: any non-null timestamp works (the blog index pages by
    `published_at`)."""
    size = check_limit(limit)
    key = tuple_(inserted_at, row_id)
    if cursor:
        bound = tuple_(*decode_cursor(cursor))
        statement = statement.where(key < bound if descending else key > bound)
    order = (inserted_at.desc(), row_id.desc()) if descending else (inserted_at, row_id)
    rows = list(await session.scalars(statement.order_by(*order).limit(size + 1)))
    return page_of(rows, size, inserted_at=inserted_at.key, row_id=row_id.key)


def page_of(rows: list[T], size: int, *, inserted_at: str = "inserted_at", row_id: str = "id") -> Page[T]:
    """The page of `rows`, read with one row more than `size`: that one tells whether a next page
    exists (without a count(*)); the cursor names the last row's `inserted_at` and `row_id` attributes."""
    items = rows[:size]
    more = len(rows) > size and bool(items)
    next_cursor = encode_cursor(getattr(items[-1], inserted_at), getattr(items[-1], row_id)) if more else None
    return Page(items=items, limit=size, next_cursor=next_cursor)
