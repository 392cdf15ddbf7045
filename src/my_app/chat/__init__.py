"""The Chat context: rooms and their members. `room:lobby` is open to every signed-in user; any
other `room:<slug>` only to the room's members and to admins.

Who may join is decided here, from the database at the moment of asking: `can_join(caller, slug)`
takes the caller (a request's `Scope` or a socket's `Identity`) and reads their current role and
membership, so a demoted admin or a removed member is refused on sockets opened before the change.
Making rooms and members (`create_room`, `add_member`) is the operator's: the seeds and the CLI call
them; no request reaches them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from my_app import repo
from my_app.accounts.scope import Caller, Scope
from my_app.accounts.user import Role, User
from my_app.changeset import cast
from my_app.chat.room import LOBBY, Room, RoomCreate, RoomMembership
from my_app.constraints import unique_violation
from my_app.errors import ValidationError

__all__ = [
    "LOBBY",
    "Room",
    "add_member",
    "can_join",
    "create_room",
    "get_room_by_slug",
    "list_rooms",
    "list_rooms_of",
    "member",
]


async def list_rooms() -> list[Room]:
    """Every room, by slug (for the operator: seeds, the CLI).

    Examples:
        await list_rooms()  # [Room(slug="general"), Room(slug="secret")]
    """
    async with repo.transaction() as session:
        return list(await session.scalars(select(Room).order_by(Room.slug)))


async def list_rooms_of(user: User) -> list[Room]:
    """The rooms `user` is a member of, by slug (one query; an admin's are only those they joined).

    Examples:
        await list_rooms_of(ada)  # [Room(slug="general")]
    """
    async with repo.transaction() as session:
        members = select(RoomMembership.room_id).where(RoomMembership.user_id == user.id)
        return list(await session.scalars(select(Room).where(Room.id.in_(members)).order_by(Room.slug)))


async def get_room_by_slug(slug: str) -> Room | None:
    """The room with this slug, or None.

    Examples:
        await get_room_by_slug("general")  # Room(...)
        await get_room_by_slug("nowhere")  # None
    """
    async with repo.transaction() as session:
        return await session.scalar(select(Room).where(Room.slug == slug))


async def create_room(attrs: Mapping[str, Any]) -> Room:
    """Create a room; ValidationError for a bad or taken slug.

    Examples:
        await create_room({"slug": "general", "name": "General"})  # Room(...)
        await create_room({"slug": "general", "name": "Again"})    # ValidationError (slug taken)
        await create_room({"slug": "lobby", "name": "x"})          # ValidationError({"slug": ["is reserved"]})
    """
    data = cast(RoomCreate, attrs)
    room = Room(slug=data.slug, name=data.name)
    try:
        async with repo.transaction() as session:
            session.add(room)
    except IntegrityError as exc:
        if unique_violation(exc) == "rooms_slug_key":
            raise ValidationError({"slug": ["has already been taken"]}) from None
        raise
    return room


async def add_member(room: Room, user: User) -> None:
    """Let `user` join `room` (idempotent).

    Examples:
        await add_member(room, ada)
        await can_join(Identity.of(ada), room.slug)  # True
    """
    async with repo.transaction() as session:
        await session.execute(insert(RoomMembership).values(room_id=room.id, user_id=user.id).on_conflict_do_nothing())


async def member(room: Room, user: User) -> bool:
    """Is `user` a member of `room`?

    Examples:
        await member(room, ada)  # True once added
    """
    async with repo.transaction() as session:
        found = await session.scalar(
            select(exists().where(RoomMembership.room_id == room.id, RoomMembership.user_id == user.id))
        )
        return bool(found)


async def can_join(caller: Caller, slug: str) -> bool:
    """May `caller` join `room:<slug>`? The lobby: yes. Another room: if it exists and the caller is
    a member or, as of now, an admin (one query; the role a socket saw at connect is not trusted).

    Examples:
        await can_join(Identity.of(ada), "lobby")                # True
        await can_join(Identity.of(member), "secret")            # True
        await can_join(Identity.of(outsider), "secret")          # False
        await can_join(Identity.of(admin), "secret")             # True, until the admin is demoted
        await can_join(Scope.for_user(admin), "no-such-room")    # False
    """
    if slug == LOBBY:
        return True
    room = select(Room.id).where(Room.slug == slug)
    if isinstance(caller, Scope) and caller.system:
        allowed = room
    else:
        user_id = _caller_id(caller)
        if user_id is None:
            return False
        is_admin = select(User.id).where(User.id == user_id, User.role == Role.ADMIN).exists()
        is_member = (
            select(RoomMembership.id)
            .where(RoomMembership.room_id == Room.id, RoomMembership.user_id == user_id)
            .exists()
        )
        allowed = room.where(or_(is_admin, is_member))
    async with repo.read() as session:
        return bool(await session.scalar(select(allowed.exists())))


def _caller_id(caller: Caller) -> uuid.UUID | None:
    return caller.user_id if isinstance(caller, Scope) else caller.id
