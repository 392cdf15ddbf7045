"""Accounts: users (the seed's `accounts_test.exs`, describe "users")."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from my_app.accounts import Role, User
from my_app.accounts.scope import Scope
from my_app.errors import ForbiddenError, NotFoundError, ValidationError
from tests.support.data_case import errors_on
from tests.support.fixtures.accounts import (
    SYSTEM,
    unique_user_email,
    user_fixture,
    valid_user_attributes,
    valid_user_password,
)
from tests.support.query_count import count_queries

pytestmark = pytest.mark.usefixtures("db")

INVALID_ATTRS: dict[str, Any] = {"email": None, "name": None, "password": None}


def same_record(left: User, right: User) -> bool:
    columns = ["id", "email", "name", "hashed_password", "role", "confirmed_at", "inserted_at", "updated_at"]
    return all(getattr(left, column) == getattr(right, column) for column in columns)


class TestListAndGet:
    async def test_list_users_returns_all_users(self) -> None:
        user = await user_fixture()

        assert user.id in [listed.id for listed in await accounts.list_users(SYSTEM)]

    async def test_get_user_returns_the_user_with_given_id(self) -> None:
        user = await user_fixture()

        found = await accounts.get_user(SYSTEM, user.id)

        assert found is not None
        assert same_record(found, user)

    async def test_get_user_returns_none_for_an_unknown_id(self) -> None:
        assert await accounts.get_user(SYSTEM, uuid.uuid4()) is None

    async def test_get_user_or_404_returns_the_user(self) -> None:
        user = await user_fixture()

        assert (await accounts.get_user_or_404(SYSTEM, user.id)).id == user.id

    async def test_get_user_or_404_raises_not_found_for_an_unknown_id(self) -> None:
        unknown = uuid.uuid4()

        with pytest.raises(NotFoundError) as raised:
            await accounts.get_user_or_404(SYSTEM, unknown)

        assert raised.value.resource == "user"
        assert raised.value.identifier == unknown

    async def test_get_user_by_email_ignores_letter_case(self) -> None:
        user = await user_fixture(email="Ada.Lovelace@Example.com")

        found = await accounts.get_user_by_email("ada.lovelace@example.COM")

        assert found is not None
        assert found.id == user.id

    async def test_get_user_by_email_returns_none_for_an_unknown_email(self) -> None:
        assert await accounts.get_user_by_email(unique_user_email()) is None

    async def test_get_users_map_finds_users_by_id_in_one_query(self) -> None:
        ada, bob = await user_fixture(name="Ada"), await user_fixture(name="Bob")

        async with count_queries() as queries:
            found = await accounts.get_users_map([str(ada.id), bob.id, str(uuid.uuid4()), "oops"])

        assert {key: user.name for key, user in found.items()} == {str(ada.id): "Ada", str(bob.id): "Bob"}
        assert len(queries) == 1, queries
        assert await accounts.get_users_map([]) == {}


class TestScopedAccess:
    """The context decides who may see and change which account: users their own, admins any."""

    async def test_get_user_shows_users_their_own_account_and_nothing_else(self) -> None:
        ada, bob = await user_fixture(), await user_fixture()

        assert (found := await accounts.get_user(Scope.for_user(ada), ada.id)) is not None
        assert found.id == ada.id
        assert await accounts.get_user(Scope.for_user(ada), bob.id) is None
        assert await accounts.get_user(Scope.for_user(None), ada.id) is None

    async def test_get_user_shows_admins_and_the_system_any_account(self) -> None:
        admin, bob = await user_fixture(role="admin"), await user_fixture()

        for scope in (Scope.for_user(admin), SYSTEM):
            found = await accounts.get_user(scope, bob.id)
            assert found is not None
            assert found.id == bob.id

    async def test_get_user_or_404_refuses_another_users_account_with_forbidden(self) -> None:
        ada, bob = await user_fixture(), await user_fixture()

        with pytest.raises(ForbiddenError):
            await accounts.get_user_or_404(Scope.for_user(ada), bob.id)
        with pytest.raises(ForbiddenError):  # whether or not it exists: no probing for accounts
            await accounts.get_user_or_404(Scope.for_user(ada), uuid.uuid4())

    async def test_get_user_or_404_says_not_found_for_a_malformed_id(self) -> None:
        ada = await user_fixture()

        with pytest.raises(NotFoundError) as raised:
            await accounts.get_user_or_404(Scope.for_user(ada), "not-a-uuid")

        assert raised.value.identifier == "not-a-uuid"

    @pytest.mark.parametrize("listing", ["list", "paginate"])
    async def test_listing_users_is_for_admins(self, listing: str) -> None:
        ada, admin = await user_fixture(), await user_fixture(role="admin")

        async def listed(scope: Scope) -> list[uuid.UUID]:
            if listing == "list":
                return [user.id for user in await accounts.list_users(scope)]
            return [user.id for user in (await accounts.paginate_users(scope, limit=100)).items]

        with pytest.raises(ForbiddenError):
            await listed(Scope.for_user(ada))
        assert {ada.id, admin.id} <= set(await listed(Scope.for_user(admin)))

    async def test_admin_create_user_is_refused_to_users_and_writes_nothing(self) -> None:
        ada = await user_fixture()
        attrs = valid_user_attributes(role="admin")

        with pytest.raises(ForbiddenError):
            await accounts.admin_create_user(Scope.for_user(ada), attrs)

        assert await accounts.get_user_by_email(attrs["email"]) is None

    async def test_admin_create_user_lets_an_admin_grant_a_role(self) -> None:
        admin = await user_fixture(role="admin")

        created = await accounts.admin_create_user(Scope.for_user(admin), valid_user_attributes(role="admin"))

        assert created.role is Role.ADMIN

    async def test_update_user_refuses_another_users_account_and_changes_nothing(self) -> None:
        ada, bob = await user_fixture(), await user_fixture()

        with pytest.raises(ForbiddenError):
            await accounts.update_user(Scope.for_user(ada), bob, {"name": "Hacked"})

        stored = await accounts.get_user(SYSTEM, bob.id)
        assert stored is not None
        assert same_record(stored, bob)

    async def test_an_admin_may_change_anyones_name_email_and_role(self) -> None:
        admin, bob = await user_fixture(role="admin"), await user_fixture()
        new_email = unique_user_email()

        updated = await accounts.update_user(
            Scope.for_user(admin), bob, {"name": "Robert", "email": new_email, "role": "admin"}
        )

        assert (updated.name, updated.email, updated.role) == ("Robert", new_email, Role.ADMIN)

    async def test_delete_user_refuses_another_users_account(self) -> None:
        ada, bob = await user_fixture(), await user_fixture()

        with pytest.raises(ForbiddenError):
            await accounts.delete_user(Scope.for_user(ada), bob)

        assert await accounts.get_user(SYSTEM, bob.id) is not None

    async def test_users_may_delete_their_own_account_and_admins_any(self) -> None:
        ada, bob, admin = await user_fixture(), await user_fixture(), await user_fixture(role="admin")

        await accounts.delete_user(Scope.for_user(ada), ada)
        await accounts.delete_user(Scope.for_user(admin), bob)

        assert await accounts.get_user(SYSTEM, ada.id) is None
        assert await accounts.get_user(SYSTEM, bob.id) is None

    async def test_change_user_is_for_the_same_people_as_update_user(self) -> None:
        ada, bob, admin = await user_fixture(), await user_fixture(), await user_fixture(role="admin")

        with pytest.raises(ForbiddenError):
            accounts.change_user(Scope.for_user(ada), bob, {"name": "x"})
        assert accounts.change_user(Scope.for_user(admin), bob, {"role": "admin"}).changes == {"role": Role.ADMIN}
        assert accounts.change_user(Scope.for_user(ada), ada, {"role": "admin"}).changes == {}


class TestCreateUser:
    async def test_with_valid_data_creates_a_user(self) -> None:
        attrs = valid_user_attributes(name="Ada Lovelace")

        user = await accounts.create_user(attrs)

        assert user.email == attrs["email"]
        assert user.name == "Ada Lovelace"
        assert user.role is Role.USER
        assert user.confirmed_at is None
        assert user.hashed_password is not None
        assert user.hashed_password != attrs["password"]
        assert await accounts.get_user(SYSTEM, user.id) is not None

    async def test_without_a_password_creates_a_user_who_cannot_log_in_with_one(self) -> None:
        user = await accounts.create_user({"email": unique_user_email(), "name": "No Password"})

        assert user.hashed_password is None
        assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is None

    async def test_with_invalid_data_says_every_required_field_is_blank(self) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.create_user(INVALID_ATTRS)

        assert errors_on(raised.value) == {"email": ["can't be blank"], "name": ["can't be blank"]}

    async def test_with_blank_strings_says_every_required_field_is_blank(self) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.create_user({"email": "  ", "name": ""})

        assert errors_on(raised.value) == {"email": ["can't be blank"], "name": ["can't be blank"]}

    async def test_with_a_bad_email_says_it_must_be_valid(self) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.create_user(valid_user_attributes(email="not an email"))

        assert errors_on(raised.value) == {"email": ["must be a valid email"]}

    async def test_with_a_short_password_says_its_minimum_length(self) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.create_user(valid_user_attributes(password="too short"))

        assert errors_on(raised.value) == {"password": ["should be at least 12 character(s)"]}

    async def test_with_a_too_long_email_says_its_maximum_length(self) -> None:
        too_long = "a" * 160 + "@example.com"

        with pytest.raises(ValidationError) as raised:
            await accounts.create_user(valid_user_attributes(email=too_long))

        assert errors_on(raised.value) == {"email": ["should be at most 160 character(s)"]}

    async def test_with_a_too_long_password_says_its_maximum_length(self) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.create_user(valid_user_attributes(password="x" * 73))

        assert errors_on(raised.value) == {"password": ["should be at most 72 character(s)"]}

    async def test_with_a_password_over_72_bytes_is_refused_not_crashed(self) -> None:
        # 40 characters, 80 bytes: bcrypt takes 72 bytes at most.
        with pytest.raises(ValidationError) as raised:
            await accounts.create_user(valid_user_attributes(password="é" * 40))

        assert errors_on(raised.value) == {"password": ["should be at most 72 byte(s)"]}

    async def test_with_several_errors_reports_each_field(self) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.create_user({"email": "nope", "name": None, "password": "short"})

        assert errors_on(raised.value) == {
            "email": ["must be a valid email"],
            "name": ["can't be blank"],
            "password": ["should be at least 12 character(s)"],
        }

    async def test_with_invalid_data_writes_nothing(self) -> None:
        before = len(await accounts.list_users(SYSTEM))

        with pytest.raises(ValidationError):
            await accounts.create_user(valid_user_attributes(email="nope"))

        assert len(await accounts.list_users(SYSTEM)) == before

    async def test_with_a_taken_email_says_it_has_already_been_taken(self) -> None:
        user = await user_fixture()

        with pytest.raises(ValidationError) as raised:
            await accounts.create_user(valid_user_attributes(email=user.email))

        assert errors_on(raised.value) == {"email": ["has already been taken"]}

    async def test_with_a_taken_email_in_another_letter_case_says_it_has_already_been_taken(self) -> None:
        user = await user_fixture()

        with pytest.raises(ValidationError) as raised:
            await accounts.create_user(valid_user_attributes(email=user.email.upper()))

        assert errors_on(raised.value) == {"email": ["has already been taken"]}

    async def test_a_refused_duplicate_leaves_the_transaction_usable(self) -> None:
        user = await user_fixture()
        with pytest.raises(ValidationError):
            await accounts.create_user(valid_user_attributes(email=user.email))

        other = await user_fixture()

        assert await accounts.get_user(SYSTEM, other.id) is not None

    async def test_trims_surrounding_whitespace(self) -> None:
        email = unique_user_email()

        user = await accounts.create_user(valid_user_attributes(email=f"  {email} ", name=" Ada "))

        assert (user.email, user.name) == (email, "Ada")


class TestRoleSafety:
    """`role` is never taken from a user's own input; only admin functions set it."""

    async def test_register_user_ignores_a_requested_admin_role(self, db: AsyncConnection) -> None:
        user = await accounts.register_user(valid_user_attributes(role="admin"))

        assert user.role is Role.USER
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.role is Role.USER

    async def test_create_user_ignores_a_requested_admin_role(self) -> None:
        user = await accounts.create_user(valid_user_attributes(role="admin"))

        assert user.role is Role.USER

    async def test_update_user_ignores_a_requested_admin_role(self) -> None:
        user = await user_fixture()

        updated = await accounts.update_user(Scope.for_user(user), user, {"name": "New Name", "role": "admin"})

        assert updated.name == "New Name"
        assert updated.role is Role.USER
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.role is Role.USER

    async def test_update_user_ignores_a_new_email(self) -> None:
        user = await user_fixture()

        updated = await accounts.update_user(Scope.for_user(user), user, {"email": unique_user_email()})

        assert updated.email == user.email

    async def test_admin_create_user_can_create_an_admin(self) -> None:
        admin = await accounts.admin_create_user(SYSTEM, valid_user_attributes(role="admin"))

        assert admin.role is Role.ADMIN

    async def test_admin_create_user_defaults_to_the_user_role(self) -> None:
        user = await accounts.admin_create_user(SYSTEM, valid_user_attributes())

        assert user.role is Role.USER

    async def test_admin_create_user_refuses_an_unknown_role(self) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.admin_create_user(SYSTEM, valid_user_attributes(role="root"))

        assert list(errors_on(raised.value)) == ["role"]

    async def test_admin_update_user_can_grant_and_revoke_admin(self) -> None:
        user = await user_fixture()

        promoted = await accounts.update_user(SYSTEM, user, {"role": "admin"})
        assert promoted.role is Role.ADMIN

        demoted = await accounts.update_user(SYSTEM, promoted, {"role": "user"})
        assert demoted.role is Role.USER

    async def test_admin_update_user_can_change_the_email(self) -> None:
        user = await user_fixture()
        new_email = unique_user_email()

        updated = await accounts.update_user(SYSTEM, user, {"email": new_email})

        assert updated.email == new_email

    async def test_admin_update_user_with_a_taken_email_says_it_has_already_been_taken(self) -> None:
        user = await user_fixture()
        other = await user_fixture()

        with pytest.raises(ValidationError) as raised:
            await accounts.update_user(SYSTEM, user, {"email": other.email.upper()})

        assert errors_on(raised.value) == {"email": ["has already been taken"]}
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.email == user.email

    async def test_promote_user_makes_an_admin(self) -> None:
        user = await user_fixture()

        promoted = await accounts.update_user(SYSTEM, user, {"role": "admin"})

        assert promoted.role is Role.ADMIN
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.role is Role.ADMIN


class TestUpdateUser:
    async def test_with_valid_data_updates_the_user(self) -> None:
        user = await user_fixture()

        updated = await accounts.update_user(Scope.for_user(user), user, {"name": "Grace Hopper"})

        assert updated.name == "Grace Hopper"
        assert updated.updated_at >= user.updated_at

    async def test_with_invalid_data_leaves_the_user_unchanged(self) -> None:
        user = await user_fixture()

        with pytest.raises(ValidationError) as raised:
            await accounts.update_user(Scope.for_user(user), user, {"name": "x" * 161})

        assert errors_on(raised.value) == {"name": ["should be at most 160 character(s)"]}
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert same_record(stored, user)

    async def test_admin_update_with_invalid_data_leaves_the_user_unchanged(self) -> None:
        user = await user_fixture()

        with pytest.raises(ValidationError) as raised:
            await accounts.update_user(SYSTEM, user, {"email": "nope", "role": "superuser"})

        assert set(errors_on(raised.value)) == {"email", "role"}
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert same_record(stored, user)

    async def test_of_a_deleted_user_raises_not_found(self) -> None:
        user = await user_fixture()
        await accounts.delete_user(SYSTEM, user)

        with pytest.raises(NotFoundError):
            await accounts.update_user(Scope.for_user(user), user, {"name": "Ghost"})


class TestDeleteAndChange:
    async def test_delete_user_deletes_the_user(self) -> None:
        user = await user_fixture()

        await accounts.delete_user(SYSTEM, user)

        assert await accounts.get_user(SYSTEM, user.id) is None

    async def test_delete_user_deletes_their_tokens(self) -> None:
        user = await user_fixture()
        token = await accounts.generate_user_session_token(user)

        await accounts.delete_user(SYSTEM, user)

        assert await accounts.get_user_by_session_token(token) is None

    async def test_change_user_returns_a_valid_changeset(self) -> None:
        user = await user_fixture()

        changeset = accounts.change_user(Scope.for_user(user), user, {"name": "New"})

        assert changeset.valid
        assert changeset.data is user
        assert changeset.changes == {"name": "New"}

    async def test_change_user_reports_errors_without_writing(self) -> None:
        user = await user_fixture()

        changeset = accounts.change_user(Scope.for_user(user), user, {"name": "x" * 161})

        assert not changeset.valid
        assert changeset.errors == {"name": ["should be at most 160 character(s)"]}
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.name == user.name


class TestGetUserByEmailAndPassword:
    async def test_returns_the_user_for_the_right_password(self) -> None:
        user = await user_fixture()

        found = await accounts.get_user_by_email_and_password(user.email, valid_user_password())

        assert found is not None
        assert found.id == user.id

    async def test_accepts_the_email_in_another_letter_case(self) -> None:
        user = await user_fixture()

        found = await accounts.get_user_by_email_and_password(user.email.upper(), valid_user_password())

        assert found is not None
        assert found.id == user.id

    async def test_keeps_spaces_around_the_password_as_typed(self) -> None:
        password = "  padded passphrase  "
        user = await accounts.register_user(valid_user_attributes(password=password))

        found = await accounts.get_user_by_email_and_password(user.email, password)

        assert found is not None
        assert await accounts.get_user_by_email_and_password(user.email, password.strip()) is None

    async def test_returns_none_for_a_wrong_password(self) -> None:
        user = await user_fixture()

        assert await accounts.get_user_by_email_and_password(user.email, "not the password") is None

    async def test_returns_none_for_an_unknown_email(self) -> None:
        assert await accounts.get_user_by_email_and_password(unique_user_email(), valid_user_password()) is None


class TestPaginateUsers:
    @pytest.mark.parametrize("limit", [0, -1, 101, 500])
    async def test_refuses_a_limit_out_of_bounds(self, limit: int) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.paginate_users(SYSTEM, limit=limit)

        assert errors_on(raised.value) == {"limit": ["must be between 1 and 100"]}

    @pytest.mark.parametrize("limit", [1, 100])
    async def test_accepts_the_limit_bounds(self, limit: int) -> None:
        await user_fixture()

        page = await accounts.paginate_users(SYSTEM, limit=limit)

        assert page.limit == limit
        assert 1 <= len(page.items) <= limit

    async def test_next_cursor_walks_every_user_once_in_order(self) -> None:
        for _ in range(7):
            await user_fixture()
        everyone = [user.id for user in await accounts.list_users(SYSTEM)]

        seen: list[uuid.UUID] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await accounts.paginate_users(SYSTEM, limit=3, cursor=cursor)
            assert len(page.items) <= 3
            seen.extend(user.id for user in page.items)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

        assert seen == everyone
        assert len(set(seen)) == len(seen)
        assert pages == -(-len(everyone) // 3)

    async def test_users_inserted_meanwhile_do_not_shift_the_pages(self, db: AsyncConnection) -> None:
        for _ in range(4):
            await user_fixture()
        # now() is the same for the whole test transaction: make the first users visibly older.
        await db.execute(text("UPDATE users SET inserted_at = inserted_at - interval '1 minute'"))
        first = await accounts.paginate_users(SYSTEM, limit=2)
        assert first.next_cursor is not None

        late = await user_fixture()
        rest: list[uuid.UUID] = []
        cursor: str | None = first.next_cursor
        while cursor is not None:
            page = await accounts.paginate_users(SYSTEM, limit=2, cursor=cursor)
            rest.extend(user.id for user in page.items)
            cursor = page.next_cursor

        assert not {user.id for user in first.items} & set(rest)
        assert rest[-1] == late.id

    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor",
            "!!!",
            "é",
            "WzEsMiwzXQ",  # [1,2,3]
            "WyJub3QgYSBkYXRlIiwibm90IGEgdXVpZCJd",  # ["not a date","not a uuid"]
        ],
    )
    async def test_refuses_a_bad_cursor(self, cursor: str) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.paginate_users(SYSTEM, cursor=cursor)

        assert errors_on(raised.value) == {"cursor": ["is invalid"]}
