"""`unique_violation`: the constraint PostgreSQL names, not a search of the error text."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app.constraints import unique_violation

pytestmark = pytest.mark.usefixtures("db")


async def integrity_error(db: AsyncConnection, sql: str, params: dict[str, object]) -> IntegrityError:
    savepoint = await db.begin_nested()
    with pytest.raises(IntegrityError) as raised:
        await db.execute(text(sql), params)
    await savepoint.rollback()
    return raised.value


async def test_names_the_unique_constraint_a_duplicate_broke(db: AsyncConnection) -> None:
    insert = "INSERT INTO users (id, email, name) VALUES (gen_random_uuid(), :email, 'x')"
    await db.execute(text(insert), {"email": "taken@example.com"})

    error = await integrity_error(db, insert, {"email": "TAKEN@example.com"})

    assert unique_violation(error) == "users_email_key"


async def test_is_none_for_other_integrity_errors(db: AsyncConnection) -> None:
    # A foreign key violation whose text still mentions the users table and its key.
    error = await integrity_error(
        db,
        "INSERT INTO user_tokens (id, token, context, user_id) VALUES (gen_random_uuid(), 'x', 'session', :user_id)",
        {"user_id": uuid.uuid4()},
    )

    assert "users" in str(error.orig)
    assert unique_violation(error) is None
