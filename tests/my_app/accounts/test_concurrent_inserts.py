"""Accounts: duplicate emails under concurrent inserts, on committed data (not the sandbox).

Each `create_user` runs in its own transaction on its own pooled connection, as two requests do.
The unique index decides: one insert wins, the other waits for it to commit, then is refused
with the same ValidationError a plain duplicate gets (a 422, never a 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts, application, repo
from my_app.errors import ValidationError
from tests.support.data_case import errors_on
from tests.support.fixtures.accounts import unique_user_email, valid_user_attributes
from tests.support.jobs import eventually

TAKEN = {"email": ["has already been taken"]}


@pytest.fixture
async def emails(started_app: application.Application) -> AsyncIterator[list[str]]:
    """Emails a test commits users with; those users and their jobs are deleted after the test."""
    used: list[str] = []
    try:
        yield used
    finally:
        async with repo.engine().begin() as connection:
            ids = (
                await connection.execute(
                    text("DELETE FROM users WHERE email = ANY(CAST(:emails AS citext[])) RETURNING id::text"),
                    {"emails": used},
                )
            ).scalars()
            await connection.execute(
                text("DELETE FROM procrastinate_jobs WHERE args->>'user_id' = ANY(:ids)"), {"ids": list(ids)}
            )


async def backend_pid(connection: AsyncConnection) -> int:
    return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def wait_until_blocked_by(pid: int) -> None:
    """Until some other backend waits on a lock that backend `pid` holds (the second insert, on the index)."""

    async def blocked() -> bool:
        async with repo.engine().connect() as connection:
            result = await connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE CAST(:pid AS integer) = ANY(pg_blocking_pids(pid))"),
                {"pid": pid},
            )
            return int(result.scalar_one()) > 0

    await eventually(blocked, within=10, message=f"an insert waiting on the transaction of backend {pid}")


async def count_users(email: str) -> int:
    async with repo.engine().connect() as connection:
        result = await connection.execute(text("SELECT count(*) FROM users WHERE email = :email"), {"email": email})
        return int(result.scalar_one())


def outcomes(results: list[Any]) -> tuple[list[accounts.User], list[ValidationError]]:
    users = [result for result in results if isinstance(result, accounts.User)]
    refusals = [result for result in results if isinstance(result, ValidationError)]
    unexpected = [result for result in results if not isinstance(result, accounts.User | ValidationError)]
    assert not unexpected, f"a concurrent insert failed otherwise: {unexpected!r}"
    return users, refusals


@pytest.mark.parametrize("round_", range(5))
async def test_concurrent_create_user_with_different_letter_case_lets_exactly_one_win(
    emails: list[str], round_: int
) -> None:
    email = unique_user_email()
    emails.append(email)

    results = await asyncio.gather(
        accounts.create_user(valid_user_attributes(email=email)),
        accounts.create_user(valid_user_attributes(email=email.upper())),
        return_exceptions=True,
    )

    users, refusals = outcomes(list(results))
    assert len(users) == 1
    assert len(refusals) == 1
    assert errors_on(refusals[0]) == TAKEN
    assert await count_users(email) == 1
    stored = await accounts.get_user_by_email(email)
    assert stored is not None
    assert stored.id == users[0].id


async def test_many_concurrent_registrations_of_one_email_create_one_user(emails: list[str]) -> None:
    email = unique_user_email()
    emails.append(email)
    spellings = [email, email.upper(), email.title(), email.capitalize(), email.swapcase()]

    results = await asyncio.gather(
        *(accounts.register_user(valid_user_attributes(email=spelling)) for spelling in spellings),
        return_exceptions=True,
    )

    users, refusals = outcomes(list(results))
    assert len(users) == 1
    assert [errors_on(refusal) for refusal in refusals] == [TAKEN] * (len(spellings) - 1)
    assert await count_users(email) == 1


async def test_an_insert_waiting_on_an_uncommitted_duplicate_is_refused_once_it_commits(emails: list[str]) -> None:
    email = unique_user_email()
    emails.append(email)

    async with repo.engine().connect() as other_request:
        transaction = await other_request.begin()
        first = await backend_pid(other_request)
        await other_request.execute(
            text("INSERT INTO users (id, email, name) VALUES (gen_random_uuid(), :email, 'First')"),
            {"email": email},
        )
        # The unique index makes the second insert wait for the first transaction to end.
        second = asyncio.create_task(accounts.create_user(valid_user_attributes(email=email.upper())))
        await wait_until_blocked_by(first)
        assert not second.done(), "the second insert should wait for the first transaction"
        await transaction.commit()

    with pytest.raises(ValidationError) as raised:
        await second

    assert errors_on(raised.value) == TAKEN
    assert await count_users(email) == 1


async def test_an_insert_waiting_on_a_duplicate_that_rolls_back_succeeds(emails: list[str]) -> None:
    email = unique_user_email()
    emails.append(email)

    async with repo.engine().connect() as other_request:
        transaction = await other_request.begin()
        first = await backend_pid(other_request)
        await other_request.execute(
            text("INSERT INTO users (id, email, name) VALUES (gen_random_uuid(), :email, 'First')"),
            {"email": email},
        )
        second = asyncio.create_task(accounts.create_user(valid_user_attributes(email=email.upper())))
        await wait_until_blocked_by(first)
        await transaction.rollback()

    user = await second

    assert user.email == email.upper()
    assert await count_users(email) == 1
