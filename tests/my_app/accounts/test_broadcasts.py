"""Accounts announces each committed user write on the `users` topic, whichever door it came through."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts, pubsub
from my_app.errors import ValidationError
from tests.support.fixtures.accounts import SYSTEM, extract_user_token, unique_user_email, user_fixture
from tests.support.pubsub import broadcast_ids

pytestmark = pytest.mark.usefixtures("db")


async def test_create_update_delete_are_announced_with_the_id(db: AsyncConnection) -> None:
    with pubsub.subscribe(accounts.USERS_TOPIC) as subscription:
        user = await user_fixture()
        await accounts.update_user(SYSTEM, user, {"name": "Renamed"})
        await accounts.delete_user(SYSTEM, user)
        assert await broadcast_ids(subscription) == [
            ("user_created", str(user.id)),
            ("user_updated", str(user.id)),
            ("user_deleted", str(user.id)),
        ]


async def test_registration_and_confirmation_are_announced(db: AsyncConnection) -> None:
    with pubsub.subscribe(accounts.USERS_TOPIC) as subscription:
        user = await accounts.register_user(
            {"email": unique_user_email(), "name": "Ada", "password": "a long passphrase"}
        )
        email = await accounts.deliver_user_confirmation_instructions(
            user, lambda token: f"http://localhost:4000/users/confirm/{token}"
        )
        assert await accounts.confirm_user(extract_user_token(email)) is not None
        assert await broadcast_ids(subscription) == [("user_created", str(user.id)), ("user_updated", str(user.id))]


async def test_a_refused_write_announces_nothing(db: AsyncConnection) -> None:
    user = await user_fixture()
    with pubsub.subscribe(accounts.USERS_TOPIC) as subscription:
        with pytest.raises(ValidationError):
            await accounts.create_user({"email": user.email, "name": "Twin"})
        with pytest.raises(ValidationError):
            await accounts.update_user(SYSTEM, user, {"email": "not an email"})
        assert await broadcast_ids(subscription) == []
