"""`unique_violation`, `foreign_key_violation`: the constraint PostgreSQL names, not a search of the error text."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app.constraints import foreign_key_violation, unique_violation

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


async def test_names_the_foreign_key_a_missing_parent_broke(db: AsyncConnection) -> None:
    error = await integrity_error(
        db,
        "INSERT INTO user_tokens (id, token, context, user_id) VALUES (gen_random_uuid(), 'x', 'session', :user_id)",
        {"user_id": uuid.uuid4()},
    )

    assert foreign_key_violation(error) == "user_tokens_user_id_fkey"


async def test_names_the_foreign_key_a_restricted_delete_broke(db: AsyncConnection) -> None:
    category_id = uuid.uuid4()
    await db.execute(
        text("INSERT INTO categories (id, name, slug) VALUES (:id, 'Tea', 'tea')"),
        {"id": category_id},
    )
    await db.execute(
        text(
            "INSERT INTO products (id, name, price, sku, category_id)"
            " VALUES (gen_random_uuid(), 'Green', 4.5, 'TEA-1', :id)"
        ),
        {"id": category_id},
    )

    error = await integrity_error(db, "DELETE FROM categories WHERE id = :id", {"id": category_id})

    assert foreign_key_violation(error) == "products_category_id_fkey"


async def test_foreign_key_violation_is_none_for_other_integrity_errors(db: AsyncConnection) -> None:
    insert = "INSERT INTO users (id, email, name) VALUES (gen_random_uuid(), :email, 'x')"
    await db.execute(text(insert), {"email": "taken@example.com"})

    error = await integrity_error(db, insert, {"email": "taken@example.com"})

    assert foreign_key_violation(error) is None
