"""The Repo's metrics (statement durations, the wait for a pooled connection, the pool's connections)
and its list of the slowest recent statements, as an operator reads them."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import application, metrics, repo


def sample(name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def _app_url(app: application.Application) -> str:
    child = app.children[0]
    assert isinstance(child, application.RepoChild)
    assert child.database is not None
    return child.database.sqlalchemy_url


async def test_every_statement_is_timed(db: AsyncConnection) -> None:
    count, total = sample("db_query_duration_seconds_count"), sample("db_query_duration_seconds_sum")

    async with repo.transaction() as session:
        await session.execute(text("SELECT pg_sleep(0.02)"))
        await session.execute(text("SELECT 1"))

    assert sample("db_query_duration_seconds_count") - count >= 2
    assert sample("db_query_duration_seconds_sum") - total >= 0.02


async def test_a_failing_statement_is_timed_too(db: AsyncConnection) -> None:
    count = sample("db_query_duration_seconds_count")

    with pytest.raises(Exception, match="no_such_table"):
        async with repo.transaction() as session:
            await session.execute(text("SELECT * FROM no_such_table"))

    assert sample("db_query_duration_seconds_count") - count >= 1


async def test_a_connection_asked_for_while_the_pool_is_empty_waits_and_the_wait_is_measured(
    started_app: application.Application,
) -> None:
    waits, waited = sample("db_pool_checkout_wait_seconds_count"), sample("db_pool_checkout_wait_seconds_sum")
    in_use, idle = sample("db_pool_connections", state="in_use"), sample("db_pool_connections", state="idle")
    small = repo.Repo.connect(_app_url(started_app), pool_size=1, max_overflow=0, connect_timeout=5)
    try:
        async with small.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            assert sample("db_pool_connections", state="in_use") - in_use == 1

            async def second_user() -> None:
                async with small.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))

            waiting = asyncio.create_task(second_user())
            await asyncio.sleep(0.2)
            assert not waiting.done()
        await waiting  # got the connection once `held` went back to the pool

        assert sample("db_pool_connections", state="in_use") == in_use
        assert sample("db_pool_connections", state="idle") - idle == 1
    finally:
        await small.stop()

    assert sample("db_pool_checkout_wait_seconds_count") - waits == 2
    assert sample("db_pool_checkout_wait_seconds_sum") - waited >= 0.2
    # The stopped pool's connections are closed: they leave the gauges.
    assert sample("db_pool_connections", state="idle") == idle
    assert sample("db_pool_connections", state="in_use") == in_use


async def test_the_slowest_recent_statements_are_listed_without_their_values(
    db: AsyncConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A list of this test's own: other tests in this process may have run slower statements.
    monkeypatch.setattr(repo, "_slow_queries", repo._SlowQueries(capacity=10, window=60, floor=0.001))
    before = time.time()

    async with repo.transaction() as session:
        await session.execute(
            text("SELECT pg_sleep(:seconds), :email, 'secret-literal'"),
            {"seconds": 0.05, "email": "ada@example.com"},
        )
        await session.execute(text("SELECT 1"))

    slowest = repo.slowest_queries()
    assert slowest, "the pg_sleep statement is listed"
    first = slowest[0]
    assert first.statement.startswith("SELECT pg_sleep(?)")
    assert first.seconds >= 0.05
    assert first.at.timestamp() >= before - 1
    listed = " ".join(query.statement for query in slowest)
    assert "ada@example.com" not in listed
    assert "secret-literal" not in listed
    assert "0.05" not in listed
    assert [query.seconds for query in slowest] == sorted((query.seconds for query in slowest), reverse=True)
    assert len(repo.slowest_queries(limit=1)) == 1


def test_only_the_slowest_statements_of_the_window_are_kept() -> None:
    slow = repo._SlowQueries(capacity=2, window=0.2, floor=0.001)
    now = time.perf_counter()
    slow.offer("SELECT 1", 0.01, now)
    slow.offer("SELECT 2", 0.03, now)
    slow.offer("SELECT 3", 0.02, now)
    slow.offer("SELECT 4", 0.0001, now)  # under the floor: never listed

    assert [(query.statement, query.seconds) for query in slow.slowest(10)] == [("SELECT ?", 0.03), ("SELECT ?", 0.02)]
    assert slow.threshold == 0.02  # what a statement must now take to be kept

    time.sleep(0.25)
    assert slow.slowest(10) == []
    assert slow.threshold == 0.001


def test_a_statement_run_often_is_listed_once_with_its_slowest_run(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = repo._SlowQueries(capacity=10, window=60, floor=0.001)
    monkeypatch.setattr(repo, "_slow_queries", slow)
    now = time.perf_counter()
    for seconds in (0.02, 0.05, 0.03):
        slow.offer("SELECT * FROM products WHERE id = %(id)s", seconds, now)
    slow.offer("SELECT * FROM users WHERE email = %(email)s", 0.04, now)

    listed = [(query.statement, query.seconds) for query in repo.slowest_queries(limit=5)]

    assert listed == [("SELECT * FROM products WHERE id = ?", 0.05), ("SELECT * FROM users WHERE email = ?", 0.04)]
    assert len(repo.slowest_queries(limit=1)) == 1
