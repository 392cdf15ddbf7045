"""The Post schema and its input models (the seed's `MyApp.Blog.Post` and its changeset).

`published_at` None is a draft. `author_id` is set to NULL when the author's account is deleted:
the post stays, shown with no author (the context's docstring states the rule).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import pydantic
from sqlalchemy import ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from my_app.accounts.user import User
from my_app.changeset import Input
from my_app.schema import Base, Timestamps

if TYPE_CHECKING:
    from my_app.blog.comment import Comment

TITLE_MAX_LENGTH = 200
SLUG_MAX_LENGTH = 200
BODY_MAX_LENGTH = 100_000
SLUG_FORMAT = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class Post(Timestamps, Base):
    __tablename__ = "posts"
    __table_args__ = (
        # The seed's `create index(:posts, [:user_id, :inserted_at])`: an author's posts, in order.
        Index("posts_author_id_inserted_at_index", "author_id", "inserted_at"),
        # Keyset pages walk posts in (inserted_at, id) order.
        Index("posts_inserted_at_id_index", "inserted_at", "id"),
        Index("posts_published_at_index", "published_at"),
    )

    # The statement's clock, not the transaction's: rows written in one transaction keep their order.
    inserted_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    slug: Mapped[str] = mapped_column(String(SLUG_MAX_LENGTH), unique=True)
    body: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    # Never loaded behind the caller's back: every query says what it loads (no N+1 by accident).
    author: Mapped[User | None] = relationship(lazy="raise")
    comments: Mapped[list[Comment]] = relationship(
        lazy="raise", passive_deletes=True, order_by="[Comment.inserted_at, Comment.id]"
    )
    # Filled by the context's queries (a correlated count); None on a post no query loaded.
    comment_count: Mapped[int | None] = query_expression()

    @property
    def draft(self) -> bool:
        return self.published_at is None

    def __repr__(self) -> str:
        return f"Post(id={self.id!s}, slug={self.slug!r}, draft={self.draft})"


# The blog pages' own addresses (`/blog/new`, `/blog/drafts`, ...): a post with one of these slugs
# could not be reached at `/blog/<slug>`, whichever door (page, API, seeds) created it.
RESERVED_SLUGS = frozenset({"new", "drafts", "validate"})


def _check_slug(slug: str) -> str:
    if not SLUG_FORMAT.match(slug):
        raise ValueError("must be lowercase letters, digits and single dashes")
    if slug in RESERVED_SLUGS:
        raise ValueError("is reserved")
    return slug


def _utc_datetime(value: Any) -> Any:
    """Ecto's `:utc_datetime` cast: an ISO 8601 string or datetime; a naive one is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("is invalid") from None
    else:
        raise ValueError("is invalid")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


Title = Annotated[str, pydantic.Field(max_length=TITLE_MAX_LENGTH)]
Slug = Annotated[str, pydantic.Field(max_length=SLUG_MAX_LENGTH), pydantic.AfterValidator(_check_slug)]
Body = Annotated[str, pydantic.Field(max_length=BODY_MAX_LENGTH)]
PublishedAt = Annotated[datetime, pydantic.BeforeValidator(_utc_datetime)]


class PostInput(Input):
    """What `create_post` casts. No `author_id`: the author is the caller."""

    title: Title
    slug: Slug
    body: Body
    published_at: PublishedAt | None = None


class PostUpdate(Input):
    """What `update_post` casts: any of the fields; `published_at: null` unpublishes (back to draft)."""

    title: Title | None = None
    slug: Slug | None = None
    body: Body | None = None
    published_at: PublishedAt | None = None
