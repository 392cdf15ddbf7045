from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import column, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from my_app import repo

notes = table("notes", column("id"), column("body"))


async def create_notes(db: AsyncConnection) -> None:
    # A table of the test's own, gone when the test's transaction rolls back.
    await db.execute(text("CREATE TEMP TABLE notes (id integer PRIMARY KEY, body text NOT NULL) ON COMMIT DROP"))


async def bodies(db: AsyncConnection) -> list[str]:
    result = await db.execute(text("SELECT body FROM notes ORDER BY id"))
    return list(result.scalars())


async def add_note(session: AsyncSession, note_id: int, body: str) -> None:
    await session.execute(text("INSERT INTO notes (id, body) VALUES (:id, :body)"), {"id": note_id, "body": body})


async def test_transaction_commits_what_the_block_wrote(db: AsyncConnection) -> None:
    await create_notes(db)

    async with repo.transaction() as session:
        await add_note(session, 1, "kept")

    assert await bodies(db) == ["kept"]
    async with repo.transaction() as session:
        seen = (await session.execute(text("SELECT body FROM notes"))).scalars().all()
    assert seen == ["kept"]


async def test_an_exception_rolls_back_only_its_own_block(db: AsyncConnection) -> None:
    await create_notes(db)
    async with repo.transaction() as session:
        await add_note(session, 1, "first")

    async def write_then_fail() -> None:
        async with repo.transaction() as session:
            await add_note(session, 2, "second")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await write_then_fail()

    assert await bodies(db) == ["first"]


async def test_a_database_error_rolls_back_its_block_and_later_blocks_still_work(db: AsyncConnection) -> None:
    await create_notes(db)
    async with repo.transaction() as session:
        await add_note(session, 1, "first")

    async def write_then_violate_the_key() -> None:
        async with repo.transaction() as session:
            await add_note(session, 2, "second")
            await add_note(session, 1, "duplicate id")

    with pytest.raises(IntegrityError):
        await write_then_violate_the_key()

    async with repo.transaction() as session:
        await add_note(session, 3, "third")

    assert await bodies(db) == ["first", "third"]


async def test_stream_yields_every_row_in_order_across_batches(db: AsyncConnection) -> None:
    await create_notes(db)
    await db.execute(text("INSERT INTO notes (id, body) SELECT n, 'note ' || n FROM generate_series(1, 23) AS n"))

    streamed = [body async for body in repo.stream(select(notes.c.body).order_by(notes.c.id), batch_size=4)]

    assert streamed == [f"note {n}" for n in range(1, 24)]


async def test_stream_reads_through_a_server_side_cursor(db: AsyncConnection) -> None:
    await create_notes(db)
    await db.execute(text("INSERT INTO notes (id, body) SELECT n, 'note ' || n FROM generate_series(1, 10) AS n"))
    open_cursors: list[int] = []

    async for _body in repo.stream(select(notes.c.body).order_by(notes.c.id), batch_size=3):
        # pg_cursors lists this session's open cursors: the rows stay on the server between batches.
        result = await db.execute(text("SELECT count(*) FROM pg_cursors"))
        open_cursors.append(result.scalar_one())

    assert len(open_cursors) == 10
    assert all(count >= 1 for count in open_cursors)


async def test_stream_of_no_rows_yields_nothing(db: AsyncConnection) -> None:
    await create_notes(db)

    assert [body async for body in repo.stream(select(notes.c.body), batch_size=2)] == []


async def test_driver_connection_is_psycopg_in_the_session_s_transaction(db: AsyncConnection) -> None:
    await create_notes(db)

    async with repo.transaction() as session:
        await add_note(session, 1, "not committed yet")
        driver = await repo.driver_connection(session)

        assert isinstance(driver, psycopg.AsyncConnection)
        cursor = await driver.execute("SELECT body FROM notes")
        # Same transaction: the driver sees the session's uncommitted row (jobs deferred here commit with it).
        assert await cursor.fetchall() == [("not committed yet",)]


async def test_ping_answers_when_the_database_is_up(db: AsyncConnection) -> None:
    await repo.ping()
