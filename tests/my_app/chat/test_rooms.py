from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts, chat
from my_app.accounts import Identity, Scope
from my_app.errors import ValidationError
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.query_count import count_queries

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
    assert await chat.can_join(Identity.of(outsider), "lobby")
    assert await chat.can_join(Identity.of(member), "secret")
    assert await chat.can_join(Identity.of(admin), "secret")
    assert not await chat.can_join(Identity.of(outsider), "secret")
    assert not await chat.can_join(Identity.of(admin), "no-such-room")


async def test_a_request_scope_is_asked_the_same_way() -> None:
    member, outsider = await user_fixture(), await user_fixture()
    await chat.add_member(await chat.create_room({"slug": "secret", "name": "Secret"}), member)

    assert await chat.can_join(Scope.for_user(member), "secret")
    assert not await chat.can_join(Scope.for_user(outsider), "secret")
    assert not await chat.can_join(Scope.for_user(None), "secret")
    assert await chat.can_join(SYSTEM, "secret")
    assert not await chat.can_join(SYSTEM, "no-such-room")


async def test_the_role_is_read_when_asked_not_when_the_identity_was_taken() -> None:
    admin, user = await user_fixture(role="admin"), await user_fixture()
    await chat.create_room({"slug": "staff", "name": "Staff"})
    as_admin, as_user = Identity.of(admin), Identity.of(user)  # what sockets keep from connect

    await accounts.update_user(SYSTEM, admin, {"role": "user"})
    await accounts.update_user(SYSTEM, user, {"role": "admin"})

    assert not await chat.can_join(as_admin, "staff")
    assert await chat.can_join(as_user, "staff")


async def test_a_deleted_users_identity_joins_no_private_room() -> None:
    admin = await user_fixture(role="admin")
    await chat.create_room({"slug": "staff", "name": "Staff"})
    identity = Identity.of(admin)

    await accounts.delete_user(SYSTEM, admin)

    assert not await chat.can_join(identity, "staff")


async def test_the_rooms_of_a_user_are_those_they_joined_in_one_query() -> None:
    ada, admin = await user_fixture(), await user_fixture(role="admin")
    general = await chat.create_room({"slug": "general", "name": "General"})
    secret = await chat.create_room({"slug": "secret", "name": "Secret"})
    await chat.create_room({"slug": "other", "name": "Other"})
    await chat.add_member(secret, ada)
    await chat.add_member(general, ada)

    async with count_queries() as queries:
        rooms = await chat.list_rooms_of(ada)
    assert [room.slug for room in rooms] == ["general", "secret"]
    assert len(queries) == 1
    assert await chat.list_rooms_of(admin) == []  # an admin may join any room, but belongs to none
