"""Accounts: the emailed flows (confirm, reset password, change email, magic link) and their jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from my_app.accounts import user_token
from my_app.errors import NotFoundError, ValidationError
from tests.support.data_case import errors_on
from tests.support.fixtures.accounts import (
    SYSTEM,
    confirmed_user_fixture,
    enqueued_emails,
    extract_user_token,
    offset_user_token,
    unique_user_email,
    url_for,
    user_fixture,
    valid_user_attributes,
    valid_user_password,
)

pytestmark = pytest.mark.usefixtures("db")

NEW_PASSWORD = "a brand new passphrase"


class TestRegisterUser:
    async def test_creates_an_unconfirmed_user_with_a_hashed_password(self) -> None:
        attrs = valid_user_attributes()

        user = await accounts.register_user(attrs)

        assert user.email == attrs["email"]
        assert user.confirmed_at is None
        assert user.hashed_password is not None
        assert attrs["password"] not in user.hashed_password
        assert await accounts.get_user_by_email_and_password(user.email, attrs["password"]) is not None

    async def test_requires_a_password(self) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.register_user({"email": unique_user_email(), "name": "Ada"})

        assert errors_on(raised.value) == {"password": ["can't be blank"]}

    async def test_with_invalid_data_says_every_field_is_blank(self) -> None:
        with pytest.raises(ValidationError) as raised:
            await accounts.register_user({"email": None, "name": None, "password": None})

        assert errors_on(raised.value) == {
            "email": ["can't be blank"],
            "name": ["can't be blank"],
            "password": ["can't be blank"],
        }

    async def test_enqueues_exactly_a_welcome_and_a_confirmation_email(self, db: AsyncConnection) -> None:
        user = await accounts.register_user(valid_user_attributes())

        assert await enqueued_emails(db, user) == [
            {"type": "welcome", "user_id": str(user.id)},
            {"type": "confirmation", "user_id": str(user.id)},
        ]

    async def test_a_refused_registration_enqueues_nothing(self, db: AsyncConnection) -> None:
        user = await user_fixture()

        with pytest.raises(ValidationError):
            await accounts.register_user(valid_user_attributes(email=user.email.upper()))

        assert await enqueued_emails(db, user) == []

    async def test_create_user_enqueues_nothing(self, db: AsyncConnection) -> None:
        user = await accounts.create_user(valid_user_attributes())

        assert await enqueued_emails(db, user) == []


class TestConfirmation:
    async def test_deliver_instructions_returns_the_email_sent_to_the_user(self) -> None:
        user = await user_fixture()

        email = await accounts.deliver_user_confirmation_instructions(user, url_for("confirm"))

        assert email.to == (user.email,)
        assert "Confirm" in email.subject
        assert extract_user_token(email)

    async def test_the_emailed_token_confirms_the_user_once(self) -> None:
        user = await user_fixture()
        token = extract_user_token(await accounts.deliver_user_confirmation_instructions(user, url_for("confirm")))

        confirmed = await accounts.confirm_user(token)

        assert confirmed is not None
        assert confirmed.id == user.id
        assert confirmed.confirmed_at is not None
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.confirmed_at == confirmed.confirmed_at
        assert await accounts.confirm_user(token) is None

    async def test_confirming_uses_up_every_confirmation_token_of_the_user(self) -> None:
        user = await user_fixture()
        first = extract_user_token(await accounts.deliver_user_confirmation_instructions(user, url_for("confirm")))
        second = extract_user_token(await accounts.deliver_user_confirmation_instructions(user, url_for("confirm")))

        assert await accounts.confirm_user(second) is not None
        assert await accounts.confirm_user(first) is None

    async def test_an_already_confirmed_user_gets_no_new_instructions(self) -> None:
        user = await confirmed_user_fixture()

        with pytest.raises(ValidationError) as raised:
            await accounts.deliver_user_confirmation_instructions(user, url_for("confirm"))

        assert errors_on(raised.value) == {"email": ["is already confirmed"]}

    @pytest.mark.parametrize("token", ["oops", "a" * 43])
    async def test_a_bad_token_confirms_nobody(self, token: str) -> None:
        assert await accounts.confirm_user(token) is None

    async def test_the_token_expires_after_7_days(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        token = extract_user_token(await accounts.deliver_user_confirmation_instructions(user, url_for("confirm")))
        await offset_user_token(db, token, -timedelta(days=7, minutes=1))

        assert await accounts.confirm_user(token) is None
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.confirmed_at is None

    async def test_a_token_sent_to_a_former_email_confirms_nobody(self) -> None:
        user = await user_fixture()
        token = extract_user_token(await accounts.deliver_user_confirmation_instructions(user, url_for("confirm")))
        await accounts.update_user(SYSTEM, user, {"email": unique_user_email()})

        assert await accounts.confirm_user(token) is None


class TestResetPassword:
    async def test_get_user_by_reset_password_token_returns_the_user(self) -> None:
        user = await user_fixture()
        token = extract_user_token(await accounts.deliver_user_reset_password_instructions(user, url_for("reset")))

        found = await accounts.get_user_by_reset_password_token(token)

        assert found is not None
        assert found.id == user.id

    async def test_get_user_by_reset_password_token_returns_none_for_a_bad_token(self) -> None:
        assert await accounts.get_user_by_reset_password_token("a" * 43) is None

    async def test_the_token_expires_after_one_day(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        token = extract_user_token(await accounts.deliver_user_reset_password_instructions(user, url_for("reset")))
        await offset_user_token(db, token, -timedelta(days=1, minutes=1))

        assert await accounts.get_user_by_reset_password_token(token) is None
        with pytest.raises(NotFoundError):
            await accounts.reset_user_password(token, {"password": NEW_PASSWORD})

    async def test_reset_sets_the_password_and_logs_every_session_out(self) -> None:
        user = await user_fixture()
        session = await accounts.generate_user_session_token(user)
        api = await accounts.create_api_token(user)
        token = extract_user_token(await accounts.deliver_user_reset_password_instructions(user, url_for("reset")))

        updated = await accounts.reset_user_password(token, {"password": NEW_PASSWORD})

        assert updated.id == user.id
        assert await accounts.get_user_by_email_and_password(user.email, NEW_PASSWORD) is not None
        assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is None
        assert await accounts.get_user_by_session_token(session) is None
        assert await accounts.fetch_user_by_api_token(api) is None
        assert await accounts.get_user_by_reset_password_token(token) is None

    async def test_reset_with_a_bad_token_raises_not_found(self) -> None:
        with pytest.raises(NotFoundError):
            await accounts.reset_user_password("a" * 43, {"password": NEW_PASSWORD})

    async def test_reset_with_a_bad_password_changes_nothing(self) -> None:
        user = await user_fixture()
        session = await accounts.generate_user_session_token(user)
        token = extract_user_token(await accounts.deliver_user_reset_password_instructions(user, url_for("reset")))

        with pytest.raises(ValidationError) as raised:
            await accounts.reset_user_password(token, {"password": "short"})

        assert errors_on(raised.value) == {"password": ["should be at least 12 character(s)"]}
        assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is not None
        assert await accounts.get_user_by_session_token(session) is not None
        assert await accounts.get_user_by_reset_password_token(token) is not None

    async def test_reset_without_a_password_says_it_is_blank(self) -> None:
        user = await user_fixture()
        token = extract_user_token(await accounts.deliver_user_reset_password_instructions(user, url_for("reset")))

        with pytest.raises(ValidationError) as raised:
            await accounts.reset_user_password(token, {})

        assert errors_on(raised.value) == {"password": ["can't be blank"]}

    async def test_request_for_an_unknown_email_enqueues_nothing(self, db: AsyncConnection) -> None:
        before = await _all_email_jobs(db)

        await accounts.request_password_reset(unique_user_email())

        assert await _all_email_jobs(db) == before

    async def test_request_enqueues_one_email_and_no_second_within_60_seconds(self, db: AsyncConnection) -> None:
        user = await user_fixture()

        await accounts.request_password_reset(user.email)
        await accounts.request_password_reset(user.email.upper())

        assert await enqueued_emails(db, user) == [{"type": "reset_password", "user_id": str(user.id)}]

    async def test_requests_for_two_users_enqueue_one_email_each(self, db: AsyncConnection) -> None:
        ada, grace = await user_fixture(), await user_fixture()

        await accounts.request_password_reset(ada.email)
        await accounts.request_password_reset(grace.email)

        assert len(await enqueued_emails(db, ada)) == 1
        assert len(await enqueued_emails(db, grace)) == 1


class TestUpdateEmail:
    async def test_request_refuses_the_same_email(self) -> None:
        user = await user_fixture()

        with pytest.raises(ValidationError) as raised:
            await accounts.request_user_email_update(user, {"email": user.email.upper()})

        assert errors_on(raised.value) == {"email": ["did not change"]}

    async def test_request_refuses_a_taken_email(self) -> None:
        user = await user_fixture()
        other = await user_fixture()

        with pytest.raises(ValidationError) as raised:
            await accounts.request_user_email_update(user, {"email": other.email})

        assert errors_on(raised.value) == {"email": ["has already been taken"]}

    @pytest.mark.parametrize(
        ("attrs", "errors"),
        [
            ({}, {"email": ["can't be blank"]}),
            ({"email": "nope"}, {"email": ["must be a valid email"]}),
            ({"email": "a" * 160 + "@example.com"}, {"email": ["should be at most 160 character(s)"]}),
        ],
    )
    async def test_request_validates_the_email(self, attrs: dict[str, str], errors: dict[str, list[str]]) -> None:
        user = await user_fixture()

        with pytest.raises(ValidationError) as raised:
            await accounts.request_user_email_update(user, attrs)

        assert errors_on(raised.value) == errors

    async def test_request_enqueues_the_email_to_the_new_address(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        new_email = unique_user_email()

        assert await accounts.request_user_email_update(user, {"email": new_email}) == new_email

        assert await enqueued_emails(db, user) == [
            {"type": "update_email", "user_id": str(user.id), "new_email": new_email}
        ]
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.email == user.email

    async def test_the_emailed_token_switches_the_email_once(self) -> None:
        user = await user_fixture()
        new_email = unique_user_email()
        email = await accounts.deliver_user_update_email_instructions(
            user, user.email, new_email, url_for("settings/confirm-email")
        )
        assert email.to == (new_email,)
        token = extract_user_token(email)

        updated = await accounts.update_user_email(user, token)

        assert updated.email == new_email
        assert updated.confirmed_at is not None
        assert await accounts.get_user_by_email(new_email) is not None
        assert await accounts.get_user_by_email(user.email) is None
        with pytest.raises(NotFoundError):
            await accounts.update_user_email(updated, token)

    async def test_a_bad_token_changes_nothing(self) -> None:
        user = await user_fixture()

        with pytest.raises(NotFoundError):
            await accounts.update_user_email(user, "a" * 43)

        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.email == user.email

    async def test_a_token_for_another_user_changes_nothing(self) -> None:
        user = await user_fixture()
        other = await user_fixture()
        token = extract_user_token(
            await accounts.deliver_user_update_email_instructions(user, user.email, unique_user_email(), url_for("c"))
        )

        with pytest.raises(NotFoundError):
            await accounts.update_user_email(other, token)

    async def test_the_token_expires_after_7_days(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        token = extract_user_token(
            await accounts.deliver_user_update_email_instructions(user, user.email, unique_user_email(), url_for("c"))
        )
        await offset_user_token(db, token, -timedelta(days=7, minutes=1))

        with pytest.raises(NotFoundError):
            await accounts.update_user_email(user, token)

    async def test_an_email_taken_meanwhile_is_refused(self) -> None:
        user = await user_fixture()
        new_email = unique_user_email()
        token = extract_user_token(
            await accounts.deliver_user_update_email_instructions(user, user.email, new_email, url_for("c"))
        )
        await user_fixture(email=new_email.upper())

        with pytest.raises(ValidationError) as raised:
            await accounts.update_user_email(user, token)

        assert errors_on(raised.value) == {"email": ["has already been taken"]}
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.email == user.email


class TestUpdatePassword:
    async def test_sets_the_password_and_deletes_every_token(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        session = await accounts.generate_user_session_token(user)
        api = await accounts.create_api_token(user)

        updated = await accounts.update_user_password(user, {"password": NEW_PASSWORD})

        assert updated.hashed_password != user.hashed_password
        assert await accounts.get_user_by_email_and_password(user.email, NEW_PASSWORD) is not None
        assert await accounts.get_user_by_session_token(session) is None
        assert await accounts.fetch_user_by_api_token(api) is None

    async def test_with_a_bad_password_changes_nothing(self) -> None:
        user = await user_fixture()
        session = await accounts.generate_user_session_token(user)

        with pytest.raises(ValidationError) as raised:
            await accounts.update_user_password(user, {"password": "x" * 73})

        assert errors_on(raised.value) == {"password": ["should be at most 72 character(s)"]}
        assert await accounts.get_user_by_email_and_password(user.email, valid_user_password()) is not None
        assert await accounts.get_user_by_session_token(session) is not None

    async def test_leaves_other_users_logged_in(self) -> None:
        user = await user_fixture()
        other = await user_fixture()
        other_session = await accounts.generate_user_session_token(other)

        await accounts.update_user_password(user, {"password": NEW_PASSWORD})

        assert await accounts.get_user_by_session_token(other_session) is not None


class TestMagicLink:
    async def test_logs_a_passwordless_user_in_and_confirms_them(self) -> None:
        user = await user_fixture(password=None)
        session = await accounts.generate_user_session_token(user)
        email = await accounts.deliver_login_instructions(user, url_for("log-in"))
        assert email.to == (user.email,)

        logged_in = await accounts.login_user_by_magic_link(extract_user_token(email))

        assert logged_in is not None
        assert logged_in.id == user.id
        assert logged_in.confirmed_at is not None
        # Confirming through the link ends every earlier session, as phx.gen.auth does.
        assert await accounts.get_user_by_session_token(session) is None

    async def test_refuses_an_unconfirmed_user_who_has_a_password(self) -> None:
        # Someone may have registered this address before its owner: the owner's click must not
        # log them into the squatter's account.
        user = await user_fixture()
        token = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))

        assert await accounts.login_user_by_magic_link(token) is None
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.confirmed_at is None

    async def test_keeps_an_earlier_confirmation_time(self) -> None:
        user = await confirmed_user_fixture()
        token = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))

        logged_in = await accounts.login_user_by_magic_link(token)

        assert logged_in is not None
        assert logged_in.confirmed_at == user.confirmed_at

    async def test_the_link_works_once(self) -> None:
        user = await confirmed_user_fixture()
        token = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))

        assert await accounts.login_user_by_magic_link(token) is not None
        assert await accounts.login_user_by_magic_link(token) is None

    async def test_the_link_expires_after_15_minutes(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        token = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))

        await offset_user_token(db, token, -(user_token.MAGIC_LINK_VALIDITY + timedelta(minutes=1)))

        assert await accounts.login_user_by_magic_link(token) is None
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.confirmed_at is None

    async def test_a_link_within_15_minutes_still_works(self, db: AsyncConnection) -> None:
        user = await confirmed_user_fixture()
        token = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))
        await offset_user_token(db, token, -(user_token.MAGIC_LINK_VALIDITY - timedelta(minutes=1)))

        assert await accounts.login_user_by_magic_link(token) is not None

    async def test_a_session_token_is_not_a_magic_link(self) -> None:
        user = await user_fixture()
        session = await accounts.generate_user_session_token(user)

        assert await accounts.login_user_by_magic_link(session) is None

    async def test_request_login_link_enqueues_one_email_for_a_known_address(self, db: AsyncConnection) -> None:
        user = await user_fixture()

        await accounts.request_login_link(user.email)
        await accounts.request_login_link(user.email)

        assert await enqueued_emails(db, user) == [{"type": "magic_link", "user_id": str(user.id)}]

    async def test_request_login_link_for_an_unknown_address_enqueues_nothing(self, db: AsyncConnection) -> None:
        before = await _all_email_jobs(db)

        await accounts.request_login_link(unique_user_email())

        assert await _all_email_jobs(db) == before


async def _all_email_jobs(db: AsyncConnection) -> int:
    result = await db.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'email:deliver_email'"))
    return int(result.scalar_one())
