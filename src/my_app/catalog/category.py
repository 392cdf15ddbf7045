"""The Category schema and its input models (the seed's `category.ex` and its changeset)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

import pydantic
from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, query_expression

from my_app.changeset import Input
from my_app.schema import Base, Timestamps

NAME_MAX_LENGTH = 120
SLUG_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 2000
_SLUG_FORMAT = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# The unique indexes a taken value breaks (read back with `constraints.unique_violation`).
NAME_INDEX = "categories_lower_name_index"
SLUG_KEY = "categories_slug_key"


class Category(Timestamps, Base):
    __tablename__ = "categories"
    # "Books" and "books" are the same category: unique on lower(name), as a citext column would be.
    __table_args__ = (Index(NAME_INDEX, text("lower(name)"), unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    slug: Mapped[str] = mapped_column(String(SLUG_MAX_LENGTH), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    # Loaded only by `list_categories_with_product_counts` (None elsewhere): what an admin must move
    # or delete before the category can go.
    product_count: Mapped[int | None] = query_expression()

    def __repr__(self) -> str:
        return f"Category(id={self.id!s}, slug={self.slug!r})"


def _check_slug(slug: str) -> str:
    if not _SLUG_FORMAT.match(slug):
        raise ValueError("has invalid format")
    return slug


Name = Annotated[str, pydantic.Field(max_length=NAME_MAX_LENGTH)]
Slug = Annotated[str, pydantic.Field(max_length=SLUG_MAX_LENGTH), pydantic.AfterValidator(_check_slug)]
Description = Annotated[str, pydantic.Field(max_length=DESCRIPTION_MAX_LENGTH)]


class CategoryInput(Input):
    """What `create_category` casts: name and slug required (slug: lowercase words joined by "-")."""

    name: Name
    slug: Slug
    description: Description | None = None


class CategoryUpdate(Input):
    """What `update_category` casts: any of the fields; one named but blank is "can't be blank"."""

    name: Name | None = None
    slug: Slug | None = None
    description: Description | None = None
