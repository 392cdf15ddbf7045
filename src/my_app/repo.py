"""The Repo: the async engine, sessions, the transaction helper and streaming reads.

Contexts do all their database work through `transaction()`; the web layer never does. One
transaction per public context call, committed when the block ends, rolled back on any exception
(Ecto's `Repo.transact`). The running app's `Repo` (engine and sessions) is in `running`: the
Application makes it when it starts and puts it there (`my_app.running`).

Metrics (`my_app.metrics`), recorded by every engine `Repo.connect` makes:
- `db_query_duration_seconds`: each statement, timed from the cursor's execute to its return
  (SQLAlchemy's before/after_cursor_execute events; a statement that fails is timed too);
- `db_pool_checkout_wait_seconds`: from asking the pool for a connection to getting it (a wait for
  a free one, or the time to open a new one); the ping of an idle connection is not part of it;
- `db_pool_connections{state}`: the pool's connections checked out (`in_use`) and waiting in it
  (`idle`), updated as connections come and go.

Slowest recent statements (for the ops dashboard): `slowest_queries(limit)` lists this process's
slowest statements of the last `SLOW_QUERY_WINDOW` seconds, slowest first, as `SlowQuery(statement,
seconds, at)`. The statement is normalised SQL: literals and placeholders become `?`, so parameter
values (emails, password hashes) are never kept. At most `SLOW_QUERY_CAPACITY` are kept, and only
statements of `SLOW_QUERY_FLOOR` seconds or more; a statement faster than the fastest one kept (once
full) costs one comparison.
"""

from __future__ import annotations

import heapq
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

import orjson
import psycopg
from sqlalchemy import Enum, Select, event, exc, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Connection, Dialect, Engine, ExceptionContext, ExecutionContext
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import greenlet_spawn

from my_app.errors import NotFoundError
from my_app.metrics import DB_POOL_CHECKOUT_WAIT, DB_POOL_CONNECTIONS, DB_QUERY_DURATION
from my_app.running import Slot

T = TypeVar("T")
M = TypeVar("M")  # a mapped class
STREAM_BATCH_SIZE = 500
SLOW_QUERY_WINDOW = 300.0  # seconds a slow statement stays listed
SLOW_QUERY_CAPACITY = 100  # slow statements kept (the slowest of the window)
SLOW_QUERY_FLOOR = 0.001  # seconds: faster statements are never listed
SLOW_QUERY_MAX_CHARS = 2000  # a listed statement's text is cut there


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
            poolclass=MeasuredPool,
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No `pool_pre_ping`: it costs a `SELECT 1` round trip on every checkout. A connection
            # idle for a while is pinged instead (`_ping_if_idle`); under load none is.
            # SQLAlchemy waits 30 s by default for a pooled connection when all are out; with the database
            # gone that is 30 s per request before its 503. No longer than a connection attempt may take.
            pool_timeout=connect_timeout,
            json_serializer=_json_serializer,
            json_deserializer=orjson.loads,
            connect_args={"connect_timeout": max(1, round(connect_timeout))},
        )
        _time_statements(engine.sync_engine)
        event.listen(engine.sync_engine, "checkout", _ping_if_idle(engine.sync_engine.dialect))
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


class Query:
    """A read compiled once, at import, and sent on the pooled connection's psycopg cursor directly.

    For the reads every request makes (the token behind a session or a bearer token, the API's
    lists): going through an ORM session costs ~1.1 ms of CPU for a one-row lookup that psycopg does
    in ~0.2 ms (bench/README.md): the session and its connection's set-up, autocommit switched on
    and off through SQLAlchemy's isolation levels, greenlet switches for every await, and the ORM's
    row processing. A `Query` keeps SQLAlchemy for what it is good at, building the SQL from the
    schema, and leaves running it to the driver: `fetch_all` / `fetch_one` check a connection out
    of the same pool (so the same limits, metrics, idle pings and 503s apply), run the statement in
    autocommit (no BEGIN/COMMIT round trips) and return plain tuples in the statement's column order,
    with enum columns turned into their Python enum as SQLAlchemy would. Parameters are
    `bindparam("name")`s given as keyword arguments, in the driver's types (UUIDs, datetimes, str:
    an enum's `.value`, not the member, which psycopg would send by its name).

    Examples:
        BY_EMAIL = repo.Query(select(User.id, User.name).where(User.email == bindparam("email")))
        row = await repo.fetch_one(BY_EMAIL, email="ada@example.com")   # (UUID(...), "Ada") or None
    """

    __slots__ = ("convert", "defaults", "sql")

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        compiled = statement.compile(dialect=_DRIVER_DIALECT)
        if compiled.positiontup or "POSTCOMPILE" in str(compiled):
            raise ValueError("a Query takes named bind parameters only (no expanding IN lists)")
        self.sql = str(compiled)
        # Values the statement carries itself (`.limit(20)`, `== "api"`); the caller's are added.
        self.defaults = {name: value for name, value in compiled.params.items() if value is not None}
        self.convert = tuple(
            (index, column.type.enum_class)
            for index, column in enumerate(statement.selected_columns)
            if isinstance(column.type, Enum) and column.type.enum_class is not None
        )

    def rows(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        if not self.convert:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for index, enum_class in self.convert:
                if values[index] is not None:
                    values[index] = enum_class(values[index])
            converted.append(tuple(values))
        return converted


_DRIVER_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
_OUTSIDE_TRANSACTION = psycopg.pq.TransactionStatus.IDLE


async def fetch_all(query: Query, **params: Any) -> list[tuple[Any, ...]]:
    """Every row of `query` (a `Query`), as tuples in its column order.

    Examples:
        rows = await repo.fetch_all(PAGE, limit=21)
    """
    return query.rows(await _fetch(query.sql, {**query.defaults, **params} if query.defaults else params))


async def fetch_one(query: Query, **params: Any) -> tuple[Any, ...] | None:
    """The first row of `query`, or None when there is none.

    Examples:
        row = await repo.fetch_one(BY_EMAIL, email="ada@example.com")
    """
    rows = await fetch_all(query, **params)
    return rows[0] if rows else None


class Columns(Generic[M]):
    """A model's column attributes: what a `Query` selects to make instances of its rows (`load`).

    Examples:
        USER = repo.Columns(User)
        BY_ID = repo.Query(select(*USER.attributes).where(User.id == bindparam("id")))
        row = await repo.fetch_one(BY_ID, id=user_id)
        user = USER.load(row) if row else None
    """

    __slots__ = ("_identity", "_new", "_primary_key", "attributes", "keys")

    def __init__(self, model: type[M]) -> None:
        mapper = model.__mapper__  # type: ignore[attr-defined]  # a mapped class
        self.keys: tuple[str, ...] = tuple(attribute.key for attribute in mapper.column_attrs)
        self.attributes: tuple[Any, ...] = tuple(getattr(model, key) for key in self.keys)
        self._new: Callable[[], M] = mapper.class_manager.new_instance
        self._identity = mapper.identity_key_from_primary_key
        self._primary_key = tuple(self.keys.index(mapper.get_property_by_column(c).key) for c in mapper.primary_key)

    def __len__(self) -> int:
        return len(self.keys)

    def load(self, values: Sequence[Any]) -> M:
        """An instance as a session's query would have loaded it from these column values, in `keys` order.

        Detached (no session), with the identity of its primary key and nothing pending, like what
        `read()` hands back once its session has closed. What `make_transient_to_detached` does, in
        a fifth of its time (a page of 20 rows is 20 of them): the values go where a query's loading
        puts them, the instance's `__dict__`.
        """
        instance = self._new()
        instance.__dict__.update(zip(self.keys, values, strict=True))
        instance_state(instance).key = self._identity([values[index] for index in self._primary_key])
        return instance


# While the app traces (my_app.tracing): a tracer and the client span kind, so that a driver read is a
# span under its request as SQLAlchemy's statements are (the instrumentation sees only the engine's).
_query_tracer: tuple[Any, Any] | None = None


def trace_queries(tracer: Any | None, client_kind: Any = None) -> None:
    """Give every `Query` a span from `tracer` (an OpenTelemetry Tracer); None stops it."""
    global _query_tracer
    _query_tracer = None if tracer is None else (tracer, client_kind)


def _query_span(sql: str, connection: psycopg.AsyncConnection[Any]) -> AbstractContextManager[Any]:
    if _query_tracer is None:
        return nullcontext()
    tracer, client_kind = _query_tracer
    info = connection.info
    # The names and attributes opentelemetry-instrumentation-sqlalchemy gives the engine's statements.
    return tracer.start_as_current_span(  # type: ignore[no-any-return]
        f"{sql.split(maxsplit=1)[0]} {info.dbname}",
        kind=client_kind,
        attributes={
            "db.system": "postgresql",
            "db.statement": sql,
            "db.name": info.dbname,
            "db.user": info.user,
            "net.peer.name": info.host,
            "net.peer.port": info.port,
        },
    )


async def _fetch(sql: str, params: Mapping[str, Any]) -> list[Any]:
    if _sandbox is not None:  # tests: inside the test's transaction, through SQLAlchemy
        return [tuple(row) for row in await _sandbox.exec_driver_sql(sql, dict(params))]
    pool = engine().sync_engine.pool
    # SQLAlchemy's pool hands out (and opens) connections inside its greenlet bridge.
    fairy = await greenlet_spawn(pool.connect)
    connection: psycopg.AsyncConnection[Any] = fairy.driver_connection  # type: ignore[assignment]
    try:
        await connection.set_autocommit(True)  # client-side: no round trip
        try:
            started = time.perf_counter()
            try:
                with _query_span(sql, connection):
                    cursor = await connection.execute(sql, params)
                    return await cursor.fetchall()
            finally:
                _statement_done(sql, started)
        finally:
            if not connection.closed:
                await connection.set_autocommit(False)  # what the pool's other users expect
    except BaseException as error:
        # Back in the pool only as clean as it came out: open, outside a transaction, not in
        # autocommit. A connection the server dropped, or one cancelled mid-statement, is closed
        # and the pool opens a new one.
        if connection.closed or connection.autocommit or connection.info.transaction_status != _OUTSIDE_TRANSACTION:
            await greenlet_spawn(fairy.invalidate, error)
        raise
    finally:
        await greenlet_spawn(fairy.close)


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


# --- Metrics, and the slowest recent statements ---

_observe_query = DB_QUERY_DURATION.observe
_observe_checkout_wait = DB_POOL_CHECKOUT_WAIT.observe
_IN_USE = DB_POOL_CONNECTIONS.labels(state="in_use")
_IDLE = DB_POOL_CONNECTIONS.labels(state="idle")
_STARTED = "_my_app_started"  # the execution context's attribute: when its statement went to the cursor


class MeasuredPool(AsyncAdaptedQueuePool):
    """The async engine's pool, timing each wait for a connection and keeping `db_pool_connections` current.

    SQLAlchemy's pool events fire once a connection is had (`checkout`), never when one is asked
    for, so the wait is timed around `_do_get`: the step every SQLAlchemy pool implements to hand
    out a connection (waiting for a free one, or opening a new one). The gauges follow the pool's
    own counts (`checkedout()`, `checkedin()`) after each get and return, so they cannot drift; each
    pool adds what it reported, so several pools in one process add up.
    """

    # Log under SQLAlchemy's pool loggers (quiet below WARNING unless asked), not as my_app.repo.MeasuredPool:
    # "Pool disposed", "Pool recreating" at INFO on every dispose would be ours otherwise.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.MeasuredPool"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reported_in_use = 0
        self._reported_idle = 0
        self._retired = False

    def _do_get(self) -> ConnectionPoolEntry:
        # Not re-entered here: QueuePool calls itself again only after another thread took the last
        # slot between two of its steps, which cannot happen on one event loop.
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            _observe_checkout_wait(time.perf_counter() - started)  # a timed-out wait was waited too
            self._report()

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()
        super()._do_return_conn(record)
        self._report()

    def dispose(self) -> None:
        """Close the idle connections; this pool then reports nothing (the engine makes a new one)."""
        super().dispose()
        _IN_USE.dec(self._reported_in_use)
        _IDLE.dec(self._reported_idle)
        self._reported_in_use = self._reported_idle = 0
        self._retired = True

    def _report(self) -> None:
        if self._retired:
            return
        in_use, idle = self.checkedout(), self.checkedin()
        if in_use != self._reported_in_use:
            _IN_USE.inc(in_use - self._reported_in_use)
            self._reported_in_use = in_use
        if idle != self._reported_idle:
            _IDLE.inc(idle - self._reported_idle)
            self._reported_idle = idle


# A pooled connection back in the pool for longer than this is pinged (`SELECT 1`) before it is
# handed out again: the server may have closed it meanwhile (a restart, a failover, an idle
# timeout), and a request would fail on it. One used moments ago is handed out as it is: under
# load no checkout pays the round trip that `pool_pre_ping` paid on every one.
PING_AFTER_IDLE = 1.0  # seconds
_RETURNED_AT = "my_app.returned_at"


def _ping_if_idle(dialect: Dialect) -> Callable[[Any, ConnectionPoolEntry, Any], None]:
    """The pool's `checkout` listener: ping (as `pool_pre_ping` would) only a connection idle for a while."""

    def ping(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE:
            return  # just opened, or used moments ago
        try:
            # The dialect's own ping: in autocommit, so the connection is handed out outside any
            # transaction (a bare SELECT would leave it INTRANS, and `read()` could not switch it).
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and hands out another (a new one, if need be).
            raise exc.DisconnectionError(f"a pooled connection failed its ping: {error}") from error

    return ping


@dataclass(frozen=True)
class SlowQuery:
    """One slow statement: its normalised SQL (no values), how long it took, and when it ended."""

    statement: str
    seconds: float
    at: datetime


class _SlowQueries:
    """The slowest statements of the last `window` seconds, at most `capacity` (a min-heap on seconds).

    `threshold` is what a statement must take to be kept (the fastest kept one once full), and
    `expires` when the oldest kept one leaves the window: a statement under the threshold before
    then is not offered at all (two comparisons on the hot path).
    """

    def __init__(self, capacity: int, window: float, floor: float) -> None:
        self.capacity, self.window, self.floor = capacity, window, floor
        self.threshold = floor
        self.expires = float("inf")
        # (seconds, order, ended (perf_counter), the entry): the order breaks ties, never the entry.
        self._heap: list[tuple[float, int, float, SlowQuery]] = []
        self._order = itertools.count()

    def offer(self, statement: str, seconds: float, ended: float) -> None:
        self._drop_expired(ended)
        if seconds >= self.threshold:
            entry = (seconds, next(self._order), ended, SlowQuery(_normalise(statement), seconds, datetime.now(UTC)))
            if len(self._heap) < self.capacity:
                heapq.heappush(self._heap, entry)
            else:
                heapq.heapreplace(self._heap, entry)
        self._update()

    def slowest(self, limit: int) -> list[SlowQuery]:
        self._drop_expired(time.perf_counter())
        self._update()
        return [entry[3] for entry in heapq.nlargest(limit, self._heap)]

    def _drop_expired(self, now: float) -> None:
        if now >= self.expires:
            self._heap = [entry for entry in self._heap if entry[2] + self.window > now]
            heapq.heapify(self._heap)

    def _update(self) -> None:
        heap = self._heap
        self.threshold = max(self.floor, heap[0][0]) if len(heap) >= self.capacity else self.floor
        self.expires = min(entry[2] for entry in heap) + self.window if heap else float("inf")


_slow_queries = _SlowQueries(SLOW_QUERY_CAPACITY, SLOW_QUERY_WINDOW, SLOW_QUERY_FLOOR)


def slowest_queries(limit: int = 10) -> list[SlowQuery]:
    """This process's slowest statements of the last `SLOW_QUERY_WINDOW` seconds, slowest first: each
    distinct (normalised) statement once, with its slowest run, so one busy query does not fill the list.

    Examples:
        repo.slowest_queries(3)
        # [SlowQuery(statement="SELECT pg_sleep(?)", seconds=0.051, at=datetime(...)), ...]
        repo.slowest_queries()   # [] when nothing took SLOW_QUERY_FLOOR or more lately
    """
    distinct: dict[str, SlowQuery] = {}
    for query in _slow_queries.slowest(SLOW_QUERY_CAPACITY):
        distinct.setdefault(query.statement, query)
        if len(distinct) == limit:
            break
    return list(distinct.values())


# Quoted strings, dollar-quoted strings, bind placeholders (%(name)s, %s, $1) and numbers: what may
# hold a value. Identifiers that contain digits (users_1) are left alone.
_VALUES = re.compile(
    r"""'(?:[^']|'')*'
      | \$(\w*)\$.*?\$\1\$
      | %\(\w+\)s | %s | \$\d+
      | (?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)""",
    re.VERBOSE | re.DOTALL,
)
_VALUE_LISTS = re.compile(r"\?(?:\s*,\s*\?)+")  # IN (?, ?, ?) and VALUES (?, ?), however long
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=512)
def _normalise(statement: str) -> str:
    """`statement` with every value replaced by `?`, lists of them shortened, on one line, cut at a length."""
    normalised = _VALUE_LISTS.sub("?, ...", _VALUES.sub("?", statement))
    normalised = _SPACES.sub(" ", normalised).strip()
    if len(normalised) > SLOW_QUERY_MAX_CHARS:
        normalised = normalised[: SLOW_QUERY_MAX_CHARS - 1] + "…"
    return normalised


def _time_statements(engine: Engine) -> None:
    """Time every statement `engine` (an AsyncEngine's sync_engine) sends to a cursor."""
    event.listen(engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(engine, "after_cursor_execute", _after_cursor_execute)
    event.listen(engine, "handle_error", _statement_failed)


def _before_cursor_execute(
    conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    if context is not None:
        context._my_app_started = time.perf_counter()  # type: ignore[attr-defined]  # our own mark


def _after_cursor_execute(
    conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    if context is not None:
        _statement_done(statement, context._my_app_started)  # type: ignore[attr-defined]
        context._my_app_started = None  # type: ignore[attr-defined]  # done: an error later is not its


def _statement_failed(error: ExceptionContext) -> None:
    """A statement the cursor refused or that was cut short (a timeout) is timed too."""
    started = getattr(error.execution_context, _STARTED, None)
    if started is not None and error.statement is not None:
        _statement_done(error.statement, started)


def _statement_done(statement: str, started: float) -> None:
    ended = time.perf_counter()
    seconds = ended - started
    _observe_query(seconds)
    if seconds >= _slow_queries.threshold or ended >= _slow_queries.expires:
        _slow_queries.offer(statement, seconds, ended)
