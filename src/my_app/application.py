"""Start and stop the app's long-lived parts, in order (the OTP application's supervisor).

The web endpoint uses `lifespan()` as its ASGI lifespan; `myapp worker` and `myapp console` use
it too, and tests start "a second app" with it. Children start in the order listed and stop in
reverse. The app owns the running instances (the Repo, PubSub, Presence, the job queue, the
mailer's settings, the notifier's links): see `Application` and `my_app.running`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from procrastinate import Blueprint
from psycopg.conninfo import conninfo_to_dict

from my_app import (
    accounts,
    cache,
    catalog,
    database,
    jobs,
    mailer,
    node_stats,
    presence,
    process_sampler,
    pubsub,
    repo,
    tracing,
)
from my_app.config import Settings, get_settings
from my_app.running import Slot
from my_app.schema_registry import load_all_schemas
from my_app.workers import maintenance

logger = logging.getLogger(__name__)
T = TypeVar("T")
C = TypeVar("C")


class Child(Protocol):
    """A part of the app with a lifetime: started once, stopped once."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class RepoChild:
    """The Repo's engine and connection pool."""

    app: Application
    name: str = "repo"
    database: database.Database | None = None
    repo: repo.Repo | None = None

    async def start(self) -> None:
        settings = self.app.settings
        # Starting the embedded server blocks for about a second the first time.
        self.database = await asyncio.to_thread(database.resolve, settings)
        self.repo = self.app.hold(
            repo.running.holding(
                repo.Repo.connect(
                    self.database.sqlalchemy_url,
                    pool_size=settings.pool_size,
                    max_overflow=settings.max_overflow,
                    connect_timeout=settings.database_connect_timeout,
                )
            )
        )

    async def stop(self) -> None:
        if self.repo is not None:
            await self.repo.stop()

    def database_url(self) -> str:
        if self.database is None:
            raise RuntimeError("the Repo must start first")
        return self.database.url


@dataclass
class JobQueueChild:
    """procrastinate, open on its own pool: jobs can be enqueued, listed and run."""

    app: Application
    repo_child: RepoChild
    blueprints: Mapping[str, Blueprint] = field(default_factory=dict)
    periodic: Sequence[jobs.Periodic] = ()
    name: str = "job queue"
    queue: jobs.JobQueue | None = None

    async def start(self) -> None:
        queue = await jobs.open_queue(
            self.app.settings,
            self.repo_child.database_url(),
            blueprints=self.blueprints,
            periodic=self.periodic,
        )
        self.queue = self.app.hold(queue.installed())

    async def stop(self) -> None:
        if self.queue is not None:
            await self.queue.close()


@dataclass
class PubSubChild:
    """Phoenix.PubSub: messages between processes and nodes (PostgreSQL LISTEN/NOTIFY or Redis)."""

    app: Application
    repo_child: RepoChild
    name: str = "pubsub"
    node: pubsub.PubSub | None = None

    async def start(self) -> None:
        node = await pubsub.start_node(self.app.settings, self.repo_child.database_url())
        self.node = self.app.hold(pubsub.running.holding(node))

    async def stop(self) -> None:
        if self.node is not None:
            await self.node.stop()


@dataclass
class CacheChild:
    """The read cache (Cachex's role, on cashews): `mem://` in one process, or Redis shared by all nodes.

    A `mem://` cache also hears the catalog's writes from other processes (a seed, the console) over
    PubSub and forgets what they changed; a lost stretch of messages (a Gap) forgets everything.
    """

    app: Application
    repo_child: RepoChild
    pubsub_child: PubSubChild
    name: str = "cache"
    cache: cache.Cache | None = None
    subscriptions: list[pubsub.Subscription] = field(default_factory=list)

    async def start(self) -> None:
        # Keys are namespaced by database, as PubSub's Redis channel is: apps (or test runs) that
        # share one Redis but not a database never read each other's values.
        database_name = conninfo_to_dict(self.repo_child.database_url()).get("dbname") or "postgres"
        started = cache.Cache.from_settings(self.app.settings, namespace=f"my_app:{database_name}")
        await started.start()
        self.cache = self.app.hold(cache.running.holding(started))
        node = self.pubsub_child.node
        if started.enabled and not started.shared and node is not None:
            started.hears_writes = True
            for topic in (catalog.CATEGORIES_TOPIC, catalog.PRODUCTS_TOPIC):
                self.subscriptions.append(node.subscribe(topic, on_message=self._heard))

    def _heard(self, item: pubsub.Message | pubsub.Gap) -> None:
        if self.cache is None:
            return
        if isinstance(item, pubsub.Gap):
            self.cache.forget()
        elif isinstance(item.payload, dict) and (states := catalog.cache_states(item.topic, item.payload)):
            self.cache.forget(*states)

    async def stop(self) -> None:
        for subscription in self.subscriptions:
            subscription.close("unsubscribed")
        if self.cache is not None:
            await self.cache.stop()


@dataclass
class PresenceChild:
    """Presence: who is in each channel topic, replicated between nodes over this app's PubSub node."""

    app: Application
    pubsub_child: PubSubChild
    name: str = "presence"
    tracker: presence.Tracker | None = None

    async def start(self) -> None:
        tracker = presence.Tracker(self.pubsub_child.node)
        await tracker.start()
        self.tracker = self.app.hold(presence.running.holding(tracker))

    async def stop(self) -> None:
        if self.tracker is not None:
            await self.tracker.stop()


@dataclass
class NodeStatsChild:
    """This node's stats, reported to every node every few seconds; every node's, kept (the ops dashboard)."""

    app: Application
    pubsub_child: PubSubChild
    name: str = "node stats"
    reporter: node_stats.Reporter | None = None

    async def start(self) -> None:
        if self.pubsub_child.node is None:
            raise RuntimeError("PubSub must start first")
        settings = self.app.settings
        stats = node_stats.NodeStats(interval=settings.node_stats_interval)
        self.app.hold(node_stats.running.holding(stats))
        self.reporter = node_stats.Reporter(
            self.pubsub_child.node,
            stats,
            interval=settings.node_stats_interval,
            pool_size=settings.pool_size + settings.max_overflow,
        )
        await self.reporter.start()

    async def stop(self) -> None:
        if self.reporter is not None:
            await self.reporter.stop()


@dataclass
class Application:
    """The running app: its settings, its started children and the instances they made.

    The app owns the Repo, the PubSub node, Presence's tracker, the job queue, the mailer's settings
    and the notifier's links: as it starts, each is made and put in its module's slot
    (`my_app.running`), where the module-level functions (`repo.transaction()`, `pubsub.broadcast()`,
    `jobs.enqueue()`, `mailer.deliver()`, ...) find it; as it stops, each slot gets back what it
    held before. So an app started inside another (a test, a CLI command) is the one everything
    uses until it stops, then the first one is again. `current()` is the running app.
    """

    settings: Settings
    links: accounts.notifier.EmailLinks | None = None
    children: list[Child] = field(default_factory=list)
    started: list[Child] = field(default_factory=list)
    _held: ExitStack = field(default_factory=ExitStack)

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
        app = cls(settings=settings, links=links)
        repo_child = RepoChild(app)
        pubsub_child = PubSubChild(app, repo_child)
        blueprints, periodic = job_tasks(settings)
        app.children = [
            repo_child,
            pubsub_child,
            CacheChild(app, repo_child, pubsub_child),
            PresenceChild(app, pubsub_child),
            JobQueueChild(app, repo_child, blueprints=blueprints, periodic=periodic),
            process_sampler.ProcessSampler(),  # memory, open files, event-loop lag, for /metrics
            NodeStatsChild(app, pubsub_child),
        ]
        if settings.jobs_in_server if run_jobs is None else run_jobs:
            app.children.append(jobs.JobWorkers(settings, queues=queues))
        return app

    def hold(self, installed: AbstractContextManager[T]) -> T:
        """Enter `installed` (a slot's `holding(instance)`) until this app stops; returns the instance."""
        return self._held.enter_context(installed)

    def child(self, kind: type[C]) -> C | None:
        """This app's child of `kind`, if it has one."""
        return next((child for child in self.children if isinstance(child, kind)), None)

    def job_workers(self) -> jobs.JobWorkers | None:
        """The supervised job workers, when this app runs them."""
        return self.child(jobs.JobWorkers)

    @property
    def repo(self) -> repo.Repo | None:
        child = self.child(RepoChild)
        return child.repo if child else None

    @property
    def pubsub(self) -> pubsub.PubSub | None:
        child = self.child(PubSubChild)
        return child.node if child else None

    @property
    def presence(self) -> presence.Tracker | None:
        child = self.child(PresenceChild)
        return child.tracker if child else None

    @property
    def job_queue(self) -> jobs.JobQueue | None:
        child = self.child(JobQueueChild)
        return child.queue if child else None

    async def start(self) -> None:
        # What needs no start: the running app, the mailer's settings, the notifier's links.
        self.hold(running.holding(self))
        self.hold(mailer.running.holding(self.settings))
        self.hold(accounts.notifier.links.holding(self.links))
        for child in self.children:
            await child.start()
            self.started.append(child)
            logger.debug("started %s", child.name)
        self.hold(tracing.installed(self.settings, self.repo))  # OpenTelemetry, when OTEL_EXPORTER_OTLP_ENDPOINT is set

    async def stop(self) -> None:
        try:
            while self.started:
                child = self.started.pop()
                try:
                    await child.stop()
                except Exception:
                    # One child failing to stop must not keep the others (the pool) open.
                    logger.exception("stopping %s failed", child.name)
        finally:
            # Every slot gets back what it held before this app started (the outer app's, or none).
            self._held.close()


# The running app (None before any starts): `current()`.
running: Slot[Application | None] = Slot("application", None)


def current() -> Application:
    """The running app: the innermost started one.

    Examples:
        async with application.lifespan(settings) as app:
            application.current() is app            # True
            async with application.lifespan(other) as inner:
                application.current() is inner      # and repo, pubsub, jobs ... are inner's
            application.current() is app            # True again
    """
    app = running.value
    if app is None:
        raise RuntimeError("no app is running: start one with my_app.application.lifespan()")
    return app


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
