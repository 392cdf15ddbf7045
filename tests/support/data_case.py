"""DataCase: each test runs inside a transaction that is rolled back at its end (Ecto's sandbox).

Use the `db` fixture in any test that touches the database. Context functions open their own
`repo.transaction()`; inside the sandbox that becomes a savepoint of the test's transaction, so
commits and rollbacks behave as in production and nothing outlives the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import application, cache, pubsub, repo
from my_app.config import Settings
from my_app.errors import ValidationError
from my_app_web.links import email_links


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
async def started_app(settings: Settings) -> AsyncIterator[application.Application]:
    """The core app (Repo pool and the rest), started once for the worker's whole run.

    Emails link to the web layer's pages, as in `myapp server` and `myapp worker`.
    """
    async with application.lifespan(settings, links=email_links(settings)) as running:
        # PubSub connects in the background; tests start once this node hears the others.
        await pubsub.current().wait_connected(10)
        yield running


@pytest.fixture
async def db(started_app: application.Application) -> AsyncIterator[AsyncConnection]:
    """The test's connection, in a transaction that is rolled back when the test ends.

    The cache is emptied before the test and after the rollback: it must not serve what the test
    wrote to the next one, nor what a test outside the sandbox left (a browser test commits its
    catalog and truncates it with raw SQL, which no cache hears).
    """
    await cache.clear()
    async with repo.engine().connect() as connection:
        outer = await connection.begin()
        try:
            async with repo.sandbox(connection):
                yield connection
            await outer.rollback()
        finally:
            await cache.clear()


def errors_on(error: ValidationError) -> dict[str, list[str]]:
    """The field errors of a refused change (Phoenix's `errors_on(changeset)`)."""
    return error.errors
