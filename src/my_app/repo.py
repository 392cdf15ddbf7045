"""The Repo: the async engine, sessions, the transaction helper and streaming reads.

Contexts do all their database work through `transaction()`; the web layer never does. One
transaction per public context call, committed when the block ends, rolled back on any exception
(Ecto's `Repo.transact`). The running app's `Repo` (engine and sessions) is in `running`: the
Application makes it when it starts and puts it there (`my_app.running`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import psycopg
from sqlalchemy import Select, exc, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from my_app.errors import NotFoundError
from my_app.running import Slot

T = TypeVar("T")
STREAM_BATCH_SIZE = 500


class RepoNotStartedError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the Repo is not started: start the app first (my_app.application.lifespan)")


# Set by tests (tests/support/data_case.py): every session joins this connection's transaction.
_sandbox: AsyncConnection | None = None


def _json_serializer(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Repo:
    """An engine, its connection pool and its session factory (one per running Application)."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 10, max_overflow: int = 5, connect_timeout: float = 5.0) -> Repo:
        """Create the engine and its pool (connections open lazily, on first use).

        `connect_timeout` bounds both a connection attempt and the wait for a free pooled connection.

        Examples:
            with repo.running.holding(Repo.connect(url)) as started:   # what the Application does
                ...
            await started.stop()
        """
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            # SQLAlchemy waits 30 s by default for a pooled connection when all are out; with the database
            # gone that is 30 s per request before its 503. No longer than a connection attempt may take.
            pool_timeout=connect_timeout,
            json_serializer=_json_serializer,
            json_deserializer=orjson.loads,
            connect_args={"connect_timeout": max(1, round(connect_timeout))},
        )
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False))

    async def stop(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


# The running app's Repo (None before any app starts); the functions below use it.
running: Slot[Repo | None] = Slot("repo", None)


def engine() -> AsyncEngine:
    started = running.value
    if started is None:
        raise RepoNotStartedError()
    return started.engine


@asynccontextmanager
async def transaction() -> AsyncIterator[AsyncSession]:
    """A session inside a transaction: commit at the end of the block, roll back on error.

    Examples:
        async with repo.transaction() as session:
            session.add(user)            # committed when the block ends
    """
    if _sandbox is not None:
        session = AsyncSession(bind=_sandbox, join_transaction_mode="create_savepoint", expire_on_commit=False)
    elif (started := running.value) is not None:
        session = started.sessionmaker()
    else:
        raise RepoNotStartedError()
    async with session, session.begin():
        yield session


@asynccontextmanager
async def read() -> AsyncIterator[AsyncSession]:
    """A session for one read, in autocommit: no BEGIN/COMMIT round trips around it.

    For the hot path (resolving a token on every request). Anything that writes, or reads twice
    and needs both reads to agree, uses `transaction()`.

    Examples:
        async with repo.read() as session:
            user = await session.get(User, user_id)
    """
    if _sandbox is not None:
        async with transaction() as session:
            yield session
        return
    async with engine().connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        async with AsyncSession(bind=autocommit, expire_on_commit=False) as session:
            yield session


async def get_for_update(session: AsyncSession, model: type[T], record_id: Any) -> T:
    """The `model` row with this id, locked until the transaction ends; NotFoundError when it is gone
    (deleted since the caller loaded it).

    Examples:
        async with repo.transaction() as session:
            user = await repo.get_for_update(session, User, user_id)   # SELECT ... FOR UPDATE
    """
    record = await session.get(model, record_id, with_for_update=True)
    if record is None:
        raise NotFoundError(model.__name__.lower(), record_id)
    return record


async def update(session: AsyncSession, model: type[T], record_id: Any, changes: Mapping[str, Any]) -> T:
    """Lock the row (`get_for_update`), set `changes` on it and flush: a violated constraint raises
    here, inside the caller's transaction, where the caller turns it into a ValidationError.

    Examples:
        async with repo.transaction() as session:
            post = await repo.update(session, Post, post_id, {"title": "New"})
    """
    record = await get_for_update(session, model, record_id)
    for key, value in changes.items():
        setattr(record, key, value)
    await session.flush()
    return record


async def stream(statement: Select[T], *, batch_size: int = STREAM_BATCH_SIZE) -> AsyncIterator[T]:
    """Yield the rows of a large query in batches through a server-side cursor (`Repo.stream`).

    Examples:
        async for user in repo.stream(select(User).order_by(User.inserted_at)):
            ...
    """
    async with transaction() as session:
        result = await session.stream_scalars(statement.execution_options(yield_per=batch_size))
        # A batch at a time: iterating the result itself would cross into SQLAlchemy's greenlet once per row.
        async for batch in result.partitions():
            for row in batch:
                yield row


async def driver_connection(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under `session`'s transaction (to defer jobs inside it)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, psycopg.AsyncConnection):
        raise TypeError(f"expected a psycopg AsyncConnection, got {type(driver).__name__}")
    return driver


async def ping() -> None:
    """Run `SELECT 1`; raises when the database cannot be reached."""
    async with engine().connect() as connection:
        await connection.execute(text("SELECT 1"))


@asynccontextmanager
async def sandbox(connection: AsyncConnection) -> AsyncIterator[None]:
    """Make every `transaction()` a savepoint inside `connection`'s transaction (tests only)."""
    global _sandbox
    previous, _sandbox = _sandbox, connection
    try:
        yield
    finally:
        _sandbox = previous


def unavailable(error: BaseException) -> bool:
    """True when `error` means "the database cannot be reached right now", not a fault of the request.

    A server restarting or down, a connection cut mid-query, no free pooled connection in time:
    the request may succeed if tried again later (503), unlike a bug or a constraint (500).
    The error may be wrapped (SQLAlchemy's DBAPIError, procrastinate's ConnectorException) or grouped.

    Examples:
        unavailable(sqlalchemy.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("refused")))  # True
        unavailable(sqlalchemy.exc.IntegrityError("INSERT ...", {}, psycopg.errors.UniqueViolation()))      # False
    """
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, psycopg.OperationalError | exc.TimeoutError):  # PoolTimeout is one too
            return True
        if isinstance(current, exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, exc.DBAPIError) and isinstance(current.orig, BaseException):
            pending.append(current.orig)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        if current.__cause__ is not None:
            pending.append(current.__cause__)
    return False
