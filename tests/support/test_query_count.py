"""The query counter counts what runs, and leaves transaction bookkeeping out."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.query_count import count_queries

pytestmark = pytest.mark.usefixtures("db")


async def test_it_counts_the_statements_a_context_call_runs(db: AsyncConnection) -> None:
    user = await user_fixture()
    async with count_queries() as queries:
        await accounts.get_user(SYSTEM, user.id)
        await db.execute(text("SELECT 1"))
    assert len(queries) == 2, queries
    assert all("SAVEPOINT" not in statement for statement in queries)
