from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import chat
from my_app.errors import ValidationError
from tests.support.fixtures.accounts import user_fixture

pytestmark = pytest.mark.usefixtures("db")


async def test_create_room_with_valid_data_creates_a_room() -> None:
    room = await chat.create_room({"slug": "general", "name": "General"})

    assert (room.slug, room.name) == ("general", "General")
    found = await chat.get_room_by_slug("general")
    assert found is not None
    assert found.id == room.id
    assert [r.slug for r in await chat.list_rooms()] == ["general"]


@pytest.mark.parametrize(
    ("attrs", "errors"),
    [
        ({}, {"slug": ["can't be blank"], "name": ["can't be blank"]}),
        ({"slug": "lobby", "name": "x"}, {"slug": ["is reserved"]}),
        ({"slug": "Not A Slug", "name": "x"}, {"slug": ["must be lowercase letters, digits, - or _"]}),
    ],
)
async def test_create_room_with_invalid_data_writes_nothing(
    attrs: dict[str, str], errors: dict[str, list[str]]
) -> None:
    with pytest.raises(ValidationError) as refused:
        await chat.create_room(attrs)

    assert refused.value.errors == errors
    assert await chat.list_rooms() == []


async def test_a_taken_slug_is_refused(db: AsyncConnection) -> None:
    await chat.create_room({"slug": "general", "name": "General"})

    with pytest.raises(ValidationError) as refused:
        await chat.create_room({"slug": "general", "name": "Other"})

    assert refused.value.errors == {"slug": ["has already been taken"]}


async def test_the_lobby_is_open_and_other_rooms_are_for_members_and_admins() -> None:
    member, outsider, admin = await user_fixture(), await user_fixture(), await user_fixture(role="admin")
    room = await chat.create_room({"slug": "secret", "name": "Secret"})
    await chat.add_member(room, member)
    await chat.add_member(room, member)  # idempotent

    assert await chat.member(room, member)
    assert not await chat.member(room, outsider)
    assert await chat.can_join(outsider, "lobby")
    assert await chat.can_join(member, "secret")
    assert await chat.can_join(admin, "secret")
    assert not await chat.can_join(outsider, "secret")
    assert not await chat.can_join(admin, "no-such-room")
