"""The Chat context: rooms and their members. `room:lobby` is open to every signed-in user; any
other `room:<slug>` only to the room's members and to admins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from my_app import repo
from my_app.accounts.scope import Identity
from my_app.accounts.user import Role, User
from my_app.changeset import cast
from my_app.chat.room import LOBBY, Room, RoomCreate, RoomMembership
from my_app.errors import ValidationError

__all__ = ["LOBBY", "Room", "add_member", "can_join", "create_room", "get_room_by_slug", "list_rooms", "member"]


async def list_rooms() -> list[Room]:
    """Every room, by slug."""
    async with repo.transaction() as session:
        return list(await session.scalars(select(Room).order_by(Room.slug)))


async def get_room_by_slug(slug: str) -> Room | None:
    async with repo.transaction() as session:
        return await session.scalar(select(Room).where(Room.slug == slug))


async def create_room(attrs: Mapping[str, Any]) -> Room:
    """Create a room; ValidationError for a bad or taken slug.

    Examples:
        await create_room({"slug": "general", "name": "General"})  # Room(...)
        await create_room({"slug": "lobby", "name": "x"})          # ValidationError({"slug": ["is reserved"]})
    """
    data = cast(RoomCreate, attrs)
    room = Room(slug=data.slug, name=data.name)
    try:
        async with repo.transaction() as session:
            session.add(room)
    except IntegrityError:
        raise ValidationError({"slug": ["has already been taken"]}) from None
    return room


async def add_member(room: Room, user: User) -> None:
    """Let `user` join `room` (idempotent)."""
    async with repo.transaction() as session:
        await session.execute(insert(RoomMembership).values(room_id=room.id, user_id=user.id).on_conflict_do_nothing())


async def member(room: Room, user: User) -> bool:
    async with repo.transaction() as session:
        found = await session.scalar(
            select(exists().where(RoomMembership.room_id == room.id, RoomMembership.user_id == user.id))
        )
        return bool(found)


async def can_join(user: User | Identity, slug: str) -> bool:
    """May `user` join `room:<slug>`? The lobby: yes. Another room: if it exists and they are a
    member or an admin (one query)."""
    if slug == LOBBY:
        return True
    async with repo.transaction() as session:
        room_exists = select(Room.id).where(Room.slug == slug)
        if user.role == Role.ADMIN:
            return bool(await session.scalar(select(exists(room_exists))))
        is_member = (
            select(RoomMembership.id)
            .join(Room, Room.id == RoomMembership.room_id)
            .where(Room.slug == slug, RoomMembership.user_id == user.id)
        )
        return bool(await session.scalar(select(exists(is_member))))
