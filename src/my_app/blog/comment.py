"""The Comment schema and its input model. A post's comments go with it (ON DELETE CASCADE); a deleted
author's comments stay, with `author_id` NULL (shown as a deleted user)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import pydantic
from sqlalchemy import ForeignKey, Index, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from my_app.accounts.user import User
from my_app.changeset import Input
from my_app.schema import Base, Timestamps

BODY_MAX_LENGTH = 10_000


class Comment(Timestamps, Base):
    __tablename__ = "comments"
    __table_args__ = (Index("comments_post_id_inserted_at_index", "post_id", "inserted_at"),)

    # The statement's clock, not the transaction's: rows written in one transaction keep their order.
    inserted_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    body: Mapped[str] = mapped_column(Text)
    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    author: Mapped[User | None] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"Comment(id={self.id!s}, post_id={self.post_id!s})"


class CommentInput(Input):
    """What `create_comment` and `update_comment` cast: the body only (post and author come from the call)."""

    body: Annotated[str, pydantic.Field(max_length=BODY_MAX_LENGTH)]
