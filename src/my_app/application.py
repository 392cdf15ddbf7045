"""Start and stop the app's long-lived parts, in order (the OTP application's supervisor).

The web endpoint uses `lifespan()` as its ASGI lifespan; `myapp worker` and `myapp console` use
it too. Children start in the order listed and stop in reverse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from my_app import database, repo
from my_app.config import Settings, get_settings

logger = logging.getLogger(__name__)


class Child(Protocol):
    """A part of the app with a lifetime: started once, stopped once."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class RepoChild:
    """The Repo's engine and connection pool."""

    settings: Settings
    name: str = "repo"
    database: database.Database | None = None

    async def start(self) -> None:
        # Starting the embedded server blocks for about a second the first time.
        self.database = await asyncio.to_thread(database.resolve, self.settings)
        repo.start(
            self.database.sqlalchemy_url,
            pool_size=self.settings.pool_size,
            max_overflow=self.settings.max_overflow,
            connect_timeout=self.settings.database_connect_timeout,
        )

    async def stop(self) -> None:
        await repo.stop()


@dataclass
class Application:
    """The running app: its settings and its started children."""

    settings: Settings
    children: list[Child] = field(default_factory=list)
    started: list[Child] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Application:
        return cls(settings=settings, children=[RepoChild(settings)])

    async def start(self) -> None:
        for child in self.children:
            await child.start()
            self.started.append(child)
            logger.debug("started %s", child.name)

    async def stop(self) -> None:
        while self.started:
            child = self.started.pop()
            try:
                await child.stop()
            except Exception:
                # One child failing to stop must not keep the others (the pool) open.
                logger.exception("stopping %s failed", child.name)


@asynccontextmanager
async def lifespan(settings: Settings | None = None) -> AsyncIterator[Application]:
    """The app, started for the duration of the block."""
    app = Application.build(settings or get_settings())
    try:
        await app.start()
        yield app
    finally:
        await app.stop()
