"""Counting the SQL statements a piece of code runs (N+1 queries show up as counts that grow with rows).

    async with count_queries() as queries:
        await blog.list_posts(scope)
    assert len(queries) == 2, queries          # the statements, for the failure message

Counts every statement sent through the Repo's engine (the test's sandbox connection included),
SAVEPOINT/RELEASE bookkeeping left out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event

from my_app import repo

_BOOKKEEPING = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT", "ROLLBACK")


@asynccontextmanager
async def count_queries() -> AsyncIterator[list[str]]:
    """The statements run inside the block, in order."""
    statements: list[str] = []
    engine = repo.engine().sync_engine

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not statement.lstrip().upper().startswith(_BOOKKEEPING):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
