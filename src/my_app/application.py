"""Start and stop the app's long-lived parts, in order (the OTP application's supervisor).

The web endpoint uses `lifespan()` as its ASGI lifespan; `myapp worker` and `myapp console` use
it too. Children start in the order listed and stop in reverse.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import psycopg_pool
from procrastinate import Blueprint

from my_app import accounts, database, jobs, mailer, presence, pubsub, repo
from my_app.config import Settings, get_settings
from my_app.schema_registry import load_all_schemas
from my_app.workers import maintenance

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
class JobQueueChild:
    """procrastinate, open on its own pool: jobs can be enqueued, listed and run."""

    repo_child: RepoChild
    blueprints: Mapping[str, Blueprint] = field(default_factory=dict)
    periodic: Sequence[jobs.Periodic] = ()
    name: str = "job queue"
    pool: psycopg_pool.AsyncConnectionPool | None = None

    async def start(self) -> None:
        if self.repo_child.database is None:
            raise RuntimeError("the Repo must start before the job queue")
        self.pool = await jobs.open_queue(
            self.repo_child.settings,
            self.repo_child.database.url,
            blueprints=self.blueprints,
            periodic=self.periodic,
        )

    async def stop(self) -> None:
        if self.pool is not None:
            await jobs.close_queue(self.pool)
            self.pool = None


@dataclass
class PubSubChild:
    """Phoenix.PubSub: messages between processes and nodes (PostgreSQL LISTEN/NOTIFY or Redis)."""

    repo_child: RepoChild
    name: str = "pubsub"

    async def start(self) -> None:
        if self.repo_child.database is None:
            raise RuntimeError("the Repo must start before PubSub")
        await pubsub.start(self.repo_child.settings, self.repo_child.database.url)

    async def stop(self) -> None:
        await pubsub.stop()


@dataclass
class PresenceChild:
    """Presence: who is in each channel topic, replicated between nodes over PubSub."""

    name: str = "presence"

    async def start(self) -> None:
        await presence.tracker.start()

    async def stop(self) -> None:
        await presence.tracker.stop()


@dataclass
class NotifierChild:
    """Tells the accounts notifier how to build emailed links (the web layer owns their pages)."""

    links: accounts.notifier.EmailLinks | None
    name: str = "notifier"

    async def start(self) -> None:
        accounts.notifier.configure_links(self.links)

    async def stop(self) -> None:
        accounts.notifier.configure_links(None)


@dataclass
class MailerChild:
    """Points the Mailer at this app's settings (its adapter, sender and servers)."""

    settings: Settings
    name: str = "mailer"

    async def start(self) -> None:
        mailer.configure(self.settings)

    async def stop(self) -> None:
        mailer.configure(None)


@dataclass
class Application:
    """The running app: its settings and its started children."""

    settings: Settings
    children: list[Child] = field(default_factory=list)
    started: list[Child] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        run_jobs: bool | None = None,
        queues: dict[str, int] | None = None,
        links: accounts.notifier.EmailLinks | None = None,
    ) -> Application:
        """The children for `settings`; `run_jobs` (default JOBS_IN_SERVER) adds the job workers.

        `links` builds the URLs emails link to; whoever assembles the app passes the web layer's
        (`my_app_web.links.email_link`), since the core may not import it. Without it, email jobs
        that carry a link fail and are retried.
        """
        repo_child = RepoChild(settings)
        blueprints, periodic = job_tasks(settings)
        children: list[Child] = [
            repo_child,
            MailerChild(settings),
            NotifierChild(links),
            PubSubChild(repo_child),
            PresenceChild(),
            JobQueueChild(repo_child, blueprints=blueprints, periodic=periodic),
        ]
        if settings.jobs_in_server if run_jobs is None else run_jobs:
            children.append(jobs.JobWorkers(settings, queues=queues))
        return cls(settings=settings, children=children)

    def job_workers(self) -> jobs.JobWorkers | None:
        """The supervised job workers, when this app runs them."""
        return next((child for child in self.children if isinstance(child, jobs.JobWorkers)), None)

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


# Each context's tasks (its notifier's emails) and the housekeeping ones, by task-name namespace.
BLUEPRINTS: Mapping[str, Blueprint] = {
    "email": accounts.notifier.blueprint,
    "maintenance": maintenance.blueprint,
}


def job_tasks(settings: Settings) -> tuple[Mapping[str, Blueprint], list[jobs.Periodic]]:
    """What the job queue runs: the task blueprints by namespace, and the periodic tasks.

    The application is where the app is assembled, so it is the one place that names concrete
    workers and contexts: the queue (`my_app.jobs`) imports none, contexts import no worker, and
    the daily purge learns here which expired records to delete (accounts' tokens).
    """
    load_all_schemas()
    maintenance.register_purger(accounts.purge_expired_tokens)
    return BLUEPRINTS, maintenance.periodic(settings)


def tune_garbage_collector(settings: Settings) -> None:
    """Collect the youngest generation every GC_THRESHOLD allocations instead of Python's 700.

    A server keeps a large live heap (each open socket, each presence). At 700, short-lived objects
    that happen to be alive at a collection (a query's rows, a list being built) are promoted and
    soon trigger full collections that scan the whole heap: while 15,000 sockets joined a room,
    those took 70 of 157 seconds, in pauses of up to 0.6 s. At 50,000 they took 2 s.
    """
    if settings.gc_threshold:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold, older, oldest)


@asynccontextmanager
async def lifespan(
    settings: Settings | None = None,
    *,
    run_jobs: bool | None = None,
    links: accounts.notifier.EmailLinks | None = None,
) -> AsyncIterator[Application]:
    """The app, started for the duration of the block (`links`: see `Application.build`)."""
    settings = settings or get_settings()
    tune_garbage_collector(settings)
    app = Application.build(settings, run_jobs=run_jobs, links=links)
    try:
        await app.start()
        yield app
    finally:
        await app.stop()
