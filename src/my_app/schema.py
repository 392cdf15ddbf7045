"""The declarative base every schema module builds on (Ecto's `use Ecto.Schema`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names, so Alembic's autogenerate and `myapp db rollback` can name them.
NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_N_name)s_index",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


def parse_id(value: uuid.UUID | str) -> uuid.UUID | None:
    """A record id as a UUID; None for a malformed one (a URL's `/posts/oops`: not found, not a crash).

    Examples:
        parse_id("8c1e...-...")   # UUID('8c1e...')
        parse_id("oops")          # None
    """
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def utc_now() -> datetime:
    return datetime.now(UTC)


class Timestamps:
    """`timestamps(type: :utc_datetime)`: inserted_at and updated_at, set by the database."""

    inserted_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utc_now)
