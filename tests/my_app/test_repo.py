from __future__ import annotations

import asyncio
import contextlib
import time

import psycopg
import pytest
from sqlalchemy import (
    Enum,
    Integer,
    String,
    bindparam,
    column,
    func,
    inspect,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from my_app import accounts, application, repo
from my_app.accounts.user import Role, User

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


# --- ping, and telling "the database is unreachable" from other errors ---

REFUSED_URL = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"  # nothing listens on port 1


def _app_url(app: application.Application) -> str:
    child = app.children[0]
    assert isinstance(child, application.RepoChild)
    assert child.database is not None
    return child.database.sqlalchemy_url


def _wrapped(cause: BaseException) -> BaseException:
    """An error raised `from` a driver error, as procrastinate's ConnectorException is."""
    try:
        raise RuntimeError("Database error.") from cause
    except RuntimeError as error:
        return error


def _context_only(during: BaseException) -> BaseException:
    """A bug raised while handling a driver error (implicit context, not its cause)."""
    try:
        try:
            raise during
        except type(during):
            raise KeyError("bug") from None
    except KeyError as error:
        error.__context__ = during
        return error


async def test_ping_returns_when_the_database_answers_and_raises_unavailable_when_it_does_not(
    started_app: application.Application,
) -> None:
    assert await repo.ping() is None

    refusing = repo.Repo.connect(REFUSED_URL, connect_timeout=1)
    try:
        with repo.running.holding(refusing):
            began = time.monotonic()
            with pytest.raises(DBAPIError) as refused:
                await repo.ping()
            elapsed = time.monotonic() - began
    finally:
        await refusing.stop()

    assert repo.unavailable(refused.value)
    assert elapsed < 2
    assert await repo.ping() is None  # the app's Repo is back


async def test_waiting_for_a_pooled_connection_is_bounded_by_the_connect_timeout(
    started_app: application.Application,
) -> None:
    # One connection, no overflow: a second user waits for it, at most DATABASE_CONNECT_TIMEOUT (not 30 s).
    small = repo.Repo.connect(_app_url(started_app), pool_size=1, max_overflow=0, connect_timeout=1)
    try:
        with repo.running.holding(small):
            async with repo.engine().connect() as held:
                await held.execute(text("SELECT 1"))
                began = time.monotonic()
                with pytest.raises(SQLAlchemyTimeoutError) as timed_out:
                    await repo.ping()
                waited = time.monotonic() - began
    finally:
        await small.stop()

    assert 0.9 <= waited < 2.5
    assert repo.unavailable(timed_out.value)


async def test_a_pooled_connection_the_server_closed_while_idle_is_replaced_before_it_is_used(
    started_app: application.Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart or an idle timeout closes pooled connections: the next request still gets a working one."""
    monkeypatch.setattr(repo, "PING_AFTER_IDLE", 0.05)
    small = repo.Repo.connect(_app_url(started_app), pool_size=1, max_overflow=0)
    backend = text("SELECT pg_backend_pid()")
    try:
        async with small.engine.connect() as connection:
            first = (await connection.execute(backend)).scalar_one()
        async with small.engine.connect() as connection:
            assert (await connection.execute(backend)).scalar_one() == first, "the pool keeps its connection"
        with psycopg.connect(_app_url(started_app).replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        await asyncio.sleep(0.1)  # idle for longer than PING_AFTER_IDLE

        async with small.engine.connect() as connection:
            replaced = (await connection.execute(backend)).scalar_one()
    finally:
        await small.stop()

    assert replaced != first


async def test_a_connection_pinged_after_idling_serves_reads_and_transactions(
    started_app: application.Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ping leaves the connection outside any transaction: `read()` switches it to autocommit."""
    monkeypatch.setattr(repo, "PING_AFTER_IDLE", 0.05)
    small = repo.Repo.connect(_app_url(started_app), pool_size=1, max_overflow=0)
    try:
        with repo.running.holding(small):
            for _ in range(2):
                async with repo.transaction() as session:
                    assert await session.scalar(text("SELECT 1")) == 1
                await asyncio.sleep(0.1)  # idle: the next checkout pings
                async with repo.read() as session:
                    assert await session.scalar(text("SELECT 2")) == 2
                await asyncio.sleep(0.1)
    finally:
        await small.stop()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (psycopg.OperationalError("connection refused"), True),
        (OperationalError("SELECT 1", {}, psycopg.OperationalError("server closed the connection")), True),
        (DBAPIError("SELECT 1", {}, psycopg.Error("gone"), connection_invalidated=True), True),
        (SQLAlchemyTimeoutError("QueuePool limit reached"), True),
        (_wrapped(psycopg.OperationalError("the database system is shutting down")), True),
        (ExceptionGroup("tasks", [ValueError("x"), psycopg.OperationalError("refused")]), True),
        (IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")), False),
        (RuntimeError("a bug"), False),
        (_context_only(psycopg.OperationalError("refused")), False),
    ],
    ids=[
        "psycopg",
        "sqlalchemy-wrapped",
        "invalidated",
        "pool-timeout",
        "raised-from",
        "group",
        "unique-violation",
        "bug",
        "bug-while-handling",
    ],
)
def test_unavailable_tells_an_unreachable_database_from_other_errors(error: BaseException, expected: bool) -> None:
    assert repo.unavailable(error) is expected


# --- Reads compiled once, run on the driver (repo.Query) ---

GREETING = repo.Query(
    select(
        literal_column("'admin'", type_=Enum(Role, name="user_role", values_callable=lambda r: [x.value for x in r])),
        bindparam("name", type_=String),
        literal(41).label("answer") + bindparam("step", value=1, type_=Integer),
    )
)


async def test_a_query_returns_tuples_in_column_order_with_enums_as_sqlalchemy_gives_them(
    started_app: application.Application,
) -> None:
    assert await repo.fetch_one(GREETING, name="Ada") == (Role.ADMIN, "Ada", 42)  # `step` has its own value
    assert await repo.fetch_all(GREETING, name="Bo", step=2) == [(Role.ADMIN, "Bo", 43)]
    assert await repo.fetch_one(repo.Query(select(literal(1)).where(literal(False)))) is None


async def _insert_then_fail() -> None:
    with contextlib.suppress(RuntimeError):
        async with repo.transaction() as session:
            await session.execute(text("INSERT INTO marks VALUES (1)"))
            raise RuntimeError("roll back")


async def test_a_failed_query_leaves_its_connection_as_transactions_expect_it(
    started_app: application.Application,
) -> None:
    """Run in autocommit, a Query's connection goes back out of autocommit: a later rollback still rolls back."""
    small = repo.Repo.connect(_app_url(started_app), pool_size=1, max_overflow=0)
    try:
        with repo.running.holding(small):
            with pytest.raises(psycopg.errors.DivisionByZero):
                await repo.fetch_one(repo.Query(select(literal(1) / bindparam("zero", type_=Integer))), zero=0)
            async with repo.transaction() as session:
                await session.execute(text("CREATE TEMP TABLE marks (n integer)"))
            await _insert_then_fail()
            async with repo.transaction() as session:
                assert (await session.execute(text("SELECT count(*) FROM marks"))).scalar_one() == 0
            assert await repo.fetch_one(repo.Query(select(literal(7)))) == (7,)  # the same connection serves on
    finally:
        await small.stop()


async def test_a_query_on_a_connection_the_server_dropped_fails_as_unavailable_and_the_next_gets_a_new_one(
    started_app: application.Application,
) -> None:
    small = repo.Repo.connect(_app_url(started_app), pool_size=1, max_overflow=0)
    backend = repo.Query(select(func.pg_backend_pid()))
    try:
        with repo.running.holding(small):
            first = await repo.fetch_one(backend)
            assert first is not None
            with psycopg.connect(_app_url(started_app).replace("+psycopg", ""), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (first[0],))
            with pytest.raises(psycopg.OperationalError) as dropped:
                await repo.fetch_one(backend)  # used moments ago: not pinged, and the server is gone from it
            replaced = await repo.fetch_one(backend)
    finally:
        await small.stop()

    assert repo.unavailable(dropped.value)
    assert replaced is not None
    assert replaced != first


USER = repo.Columns(User)


async def test_columns_load_a_detached_instance_as_a_session_would(db: AsyncConnection) -> None:
    user = await accounts.register_user({"email": "loaded@example.com", "name": "Lo", "password": "a long password"})
    row = await repo.fetch_one(
        repo.Query(select(*USER.attributes).where(User.id == bindparam("id"))),
        id=user.id,
    )
    assert row is not None
    loaded = USER.load(row)

    state = inspect(loaded)
    assert state.detached
    assert state.identity == (user.id,)
    assert (loaded.email, loaded.role, loaded.inserted_at) == (user.email, Role.USER, user.inserted_at)
    assert not state.modified
