"""Chat rooms and who belongs to them (the rooms behind `room:<slug>` channel topics)."""

from __future__ import annotations

import re
import uuid

import pydantic
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from my_app.changeset import Input
from my_app.schema import Base, Timestamps

SLUG_FORMAT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LOBBY = "lobby"  # open to every signed-in user; no row needed


class Room(Timestamps, Base):
    __tablename__ = "rooms"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class RoomMembership(Base):
    __tablename__ = "room_memberships"
    __table_args__ = (UniqueConstraint("room_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


def _check_slug(slug: str) -> str:
    if slug == LOBBY:
        raise ValueError("is reserved")
    if not SLUG_FORMAT.match(slug):
        raise ValueError("must be lowercase letters, digits, - or _")
    return slug


class RoomCreate(Input):
    slug: str = pydantic.Field(max_length=64)
    name: str = pydantic.Field(max_length=120)

    _slug = pydantic.field_validator("slug")(_check_slug)
