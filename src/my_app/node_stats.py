"""Every node's vital signs, shared between nodes (what LiveDashboard's home page shows, per node).

Each node (a `myapp server` process, each of `--workers N`) runs a `Reporter`: every `interval`
seconds (NODE_STATS_INTERVAL, 2 by default) it takes a `Snapshot` of itself (requests answered and
their latency buckets, read from this process's `my_app.metrics`; sockets, presences, the Repo pool,
memory, event-loop lag, the slowest recent queries) and broadcasts it on `TOPIC`. Every node keeps
what it hears in its `NodeStats`: the latest snapshot of each node, dropping nodes silent for
`EXPIRE_INTERVALS` intervals, and each node's snapshots of the last `HISTORY_SECONDS` for the
charts. After storing its own snapshot, a node tells its local pages on `TICK_TOPIC` (never sent to
other nodes): the ops dashboard re-renders on that tick.

Counters are cumulative per node, so rates and latency quantiles come from the difference between
two snapshots of the same node (a restarted process is a new node: PubSub gives it a new id).

Examples:
    stats = node_stats.current()
    stats.nodes()                      # [Snapshot(node="3f2a...", pid=4242, requests=1200, ...), ...]
    stats.overview()                   # Overview(nodes=2, requests_per_second=41.5, p50=0.004, p95=0.02, ...)
    stats.series()                     # [Point(at=..., requests_per_second=..., p50=..., p95=...), ...]
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from my_app import metrics, process_sampler, pubsub, repo
from my_app.running import Slot

logger = logging.getLogger(__name__)

TOPIC = "node_stats"
TICK_TOPIC = "node_stats:tick"
# A node not heard from for this many intervals is gone (stopped, killed, cut off).
EXPIRE_INTERVALS = 3
HISTORY_SECONDS = 300.0
# The window of the overview's rate and quantiles: long enough to smooth a few quiet ticks.
RECENT_SECONDS = 30.0
SLOW_QUERIES_SHOWN = 5
_SQL_SHOWN = 300  # characters of a slow query's text a snapshot carries (NOTIFY payloads stay small)


@dataclass(frozen=True, slots=True)
class SlowQuery:
    """One of the slowest statements a node ran recently."""

    sql: str
    seconds: float
    at: float  # when it ran (Unix time)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One node at one moment. Counts (`requests`, `latency_buckets`) are cumulative since it started."""

    node: str
    pid: int
    host: str
    started_at: float
    at: float
    requests: int
    # (upper bound in seconds, requests answered within it), cumulative, the last bound infinite.
    latency_buckets: tuple[tuple[float, int], ...]
    sockets: int
    presences: int
    pool_in_use: int
    pool_idle: int
    pool_size: int
    rss_bytes: int | None
    loop_lag_seconds: float
    slow_queries: tuple[SlowQuery, ...] = ()

    @property
    def uptime_seconds(self) -> float:
        return max(0.0, self.at - self.started_at)

    def to_payload(self) -> dict[str, Any]:
        """The snapshot as JSON (infinite bounds as null: JSON has no Infinity)."""
        payload = asdict(self)
        payload["latency_buckets"] = [[None if math.isinf(le) else le, count] for le, count in self.latency_buckets]
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Snapshot:
        """The snapshot a node broadcast; raises ValueError (or KeyError, TypeError) when it is malformed."""
        buckets = tuple((math.inf if le is None else float(le), int(count)) for le, count in payload["latency_buckets"])
        queries = tuple(
            SlowQuery(sql=str(query["sql"]), seconds=float(query["seconds"]), at=float(query["at"]))
            for query in payload.get("slow_queries") or ()
        )
        rss = payload.get("rss_bytes")
        return cls(
            node=str(payload["node"]),
            pid=int(payload["pid"]),
            host=str(payload["host"]),
            started_at=float(payload["started_at"]),
            at=float(payload["at"]),
            requests=int(payload["requests"]),
            latency_buckets=buckets,
            sockets=int(payload["sockets"]),
            presences=int(payload["presences"]),
            pool_in_use=int(payload["pool_in_use"]),
            pool_idle=int(payload["pool_idle"]),
            pool_size=int(payload["pool_size"]),
            rss_bytes=None if rss is None else int(rss),
            loop_lag_seconds=float(payload["loop_lag_seconds"]),
            slow_queries=queries,
        )


# --- Reading this process ---


def metric_total(metric: MetricWrapperBase, sample_name: str) -> float:
    """The sum of a counter's or gauge's samples named `sample_name`, over all its labels, in this process."""
    return sum(sample.value for family in metric.collect() for sample in family.samples if sample.name == sample_name)


def read_histogram_buckets(metric: MetricWrapperBase) -> tuple[tuple[float, int], ...]:
    """A histogram's cumulative buckets in this process, summed over its labels: ((le, count), ...)."""
    totals: dict[float, float] = {}
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                totals[le] = totals.get(le, 0.0) + sample.value
    return tuple((le, int(count)) for le, count in sorted(totals.items()))


def pool_usage() -> tuple[int, int]:
    """The Repo pool's connections (checked out, idle) now, as `db_pool_connections` says (the Repo's
    pool keeps it current); zeros before the Repo starts."""
    counts = {
        sample.labels["state"]: int(sample.value)
        for family in metrics.DB_POOL_CONNECTIONS.collect()
        for sample in family.samples
    }
    return counts.get("in_use", 0), counts.get("idle", 0)


def slow_queries() -> tuple[SlowQuery, ...]:
    """The slowest statements this process ran recently (the Repo keeps them), slowest first."""
    return tuple(
        SlowQuery(sql=query.statement[:_SQL_SHOWN], seconds=query.seconds, at=query.at.timestamp())
        for query in repo.slowest_queries(SLOW_QUERIES_SHOWN)
    )


def take_snapshot(node: str, *, started_at: float, pool_size: int = 0, now: float | None = None) -> Snapshot:
    """This process, now (`pool_size`: the most connections its pool opens, overflow included)."""
    in_use, idle = pool_usage()
    return Snapshot(
        node=node,
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=started_at,
        at=time.time() if now is None else now,
        requests=int(metric_total(metrics.HTTP_REQUESTS, "http_requests_total")),
        latency_buckets=read_histogram_buckets(metrics.HTTP_REQUEST_DURATION),
        sockets=int(metric_total(metrics.SOCKETS_CONNECTED, "sockets_connected")),
        presences=int(metric_total(metrics.PRESENCES_TRACKED, "presences_tracked")),
        pool_in_use=in_use,
        pool_idle=idle,
        pool_size=pool_size,
        rss_bytes=process_sampler.resident_memory_bytes(),
        # Sampled by the process sampler every few seconds, for /metrics too (one measurement).
        loop_lag_seconds=metric_total(metrics.EVENT_LOOP_LAG, "event_loop_lag_seconds"),
        slow_queries=slow_queries(),
    )


# --- What a node knows of all nodes ---


@dataclass(frozen=True, slots=True)
class Point:
    """The whole cluster over one interval: requests per second, and latency quantiles (None: no requests)."""

    at: float
    requests_per_second: float
    p50: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class Overview:
    """The cluster over the last `RECENT_SECONDS`, with its sockets and presences now."""

    nodes: int
    requests_per_second: float
    p50: float | None
    p95: float | None
    sockets: int
    presences: int


def quantile(q: float, buckets: Sequence[tuple[float, int]]) -> float | None:
    """The `q` quantile of cumulative buckets, interpolated inside its bucket (Prometheus'
    `histogram_quantile`); the highest finite bound when it falls in the infinite bucket; None when empty."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower_bound
            if count == lower_count:
                return le
            return lower_bound + (le - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = le, count
    return lower_bound


def bucket_delta(newer: Snapshot, older: Snapshot) -> tuple[tuple[float, int], ...]:
    """The requests answered between two snapshots of one node, per bucket (cumulative)."""
    before = dict(older.latency_buckets)
    return tuple((le, max(0, count - before.get(le, 0))) for le, count in newer.latency_buckets)


def _add_buckets(total: dict[float, int], buckets: Iterable[tuple[float, int]]) -> None:
    for le, count in buckets:
        total[le] = total.get(le, 0) + count


@dataclass
class NodeStats:
    """The latest snapshot of each node and each node's recent history (one per running app).

    Examples:
        stats = NodeStats(interval=settings.node_stats_interval)
        stats.record(snapshot)           # from the Reporter (own) or a broadcast (another node's)
        stats.nodes()                    # the nodes heard from in the last 3 intervals, by host and pid
    """

    interval: float  # seconds between two reports of a node (settings.node_stats_interval)
    history_seconds: float = HISTORY_SECONDS
    clock: Callable[[], float] = time.time
    _history: dict[str, deque[Snapshot]] = field(default_factory=dict)

    def record(self, snapshot: Snapshot) -> None:
        """Keep `snapshot` as its node's latest (older or repeated ones are ignored)."""
        history = self._history.get(snapshot.node)
        if history is None:
            history = self._history[snapshot.node] = deque()
        elif history and history[-1].at >= snapshot.at:
            return
        history.append(snapshot)
        horizon = snapshot.at - self.history_seconds
        while history and history[0].at < horizon:
            history.popleft()

    def expire(self) -> None:
        """Forget the nodes silent for `EXPIRE_INTERVALS` intervals."""
        deadline = self.clock() - EXPIRE_INTERVALS * self.interval
        for node in [node for node, history in self._history.items() if not history or history[-1].at < deadline]:
            del self._history[node]

    def nodes(self) -> list[Snapshot]:
        """The latest snapshot of each live node, by host, then pid."""
        self.expire()
        return sorted((history[-1] for history in self._history.values()), key=lambda s: (s.host, s.pid, s.node))

    def latest(self, node: str) -> Snapshot | None:
        history = self._history.get(node)
        return history[-1] if history else None

    def overview(self, window: float = RECENT_SECONDS) -> Overview:
        """Requests per second and latency quantiles over the last `window` seconds, for all nodes."""
        latest = self.nodes()
        requests = 0.0
        buckets: dict[float, int] = {}
        for snapshot in latest:
            older = self._at_or_before(snapshot.node, snapshot.at - window)
            if older is None or older is snapshot:
                continue
            requests += max(0, snapshot.requests - older.requests) / max(snapshot.at - older.at, 1e-9)
            _add_buckets(buckets, bucket_delta(snapshot, older))
        ordered = sorted(buckets.items())
        return Overview(
            nodes=len(latest),
            requests_per_second=requests,
            p50=quantile(0.5, ordered),
            p95=quantile(0.95, ordered),
            sockets=sum(snapshot.sockets for snapshot in latest),
            presences=sum(snapshot.presences for snapshot in latest),
        )

    def series(self) -> list[Point]:
        """The cluster per interval over the history: each node's change between consecutive
        snapshots, put in the interval it ended in and added up over the nodes."""
        self.expire()
        rates: dict[int, float] = {}
        latencies: dict[int, dict[float, int]] = {}
        for history in self._history.values():
            for older, newer in zip(history, list(history)[1:], strict=False):
                slot = math.floor(newer.at / self.interval)
                elapsed = max(newer.at - older.at, 1e-9)
                rates[slot] = rates.get(slot, 0.0) + max(0, newer.requests - older.requests) / elapsed
                _add_buckets(latencies.setdefault(slot, {}), bucket_delta(newer, older))
        points = []
        for slot in sorted(rates):
            ordered = sorted(latencies[slot].items())
            points.append(
                Point(
                    at=slot * self.interval,
                    requests_per_second=rates[slot],
                    p50=quantile(0.5, ordered),
                    p95=quantile(0.95, ordered),
                )
            )
        return points

    def slowest_queries(self, limit: int = 10) -> list[tuple[Snapshot, SlowQuery]]:
        """The slowest recent queries of all live nodes, slowest first, each with its node."""
        found = [(snapshot, query) for snapshot in self.nodes() for query in snapshot.slow_queries]
        return sorted(found, key=lambda pair: pair[1].seconds, reverse=True)[:limit]

    def _at_or_before(self, node: str, moment: float) -> Snapshot | None:
        # The newest snapshot taken at or before `moment`, else the oldest kept (a young node).
        history = self._history.get(node)
        if not history:
            return None
        chosen = history[0]
        for snapshot in history:
            if snapshot.at > moment:
                break
            chosen = snapshot
        return chosen


# The running app's stats (None before any app starts), put here by the Application.
running: Slot[NodeStats | None] = Slot("node stats", None)


def current() -> NodeStats:
    """The running app's `NodeStats`."""
    stats = running.value
    if stats is None:
        raise RuntimeError("node stats are not running: start the app first (my_app.application.lifespan)")
    return stats


# --- The reporter: one per node ---


@dataclass
class Reporter:
    """Every `interval` seconds: snapshot this node, keep it, broadcast it, and tick the local pages.

    Listens on `TOPIC` for the other nodes' snapshots. A failed report is logged, and the next one
    comes on time.

    Examples:
        reporter = Reporter(node, stats, interval=settings.node_stats_interval)
        await reporter.start()           # reports in the background
        await reporter.report()          # one report now (tests)
        await reporter.stop()
    """

    node: pubsub.PubSub
    stats: NodeStats
    interval: float  # seconds between two reports (settings.node_stats_interval)
    pool_size: int = 0
    started_at: float = field(default_factory=time.time)
    _task: asyncio.Task[None] | None = None
    _subscription: pubsub.Subscription | None = None

    async def start(self) -> None:
        self._subscription = self.node.subscribe(TOPIC, on_message=self._heard)
        self._task = asyncio.create_task(self._run(), name="node stats")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._subscription is not None:
            self._subscription.close("unsubscribed")
            self._subscription = None

    async def report(self) -> Snapshot:
        """Snapshot this node, keep it here, send it to the others and tell this node's pages."""
        snapshot = take_snapshot(
            self.node.node_id,
            started_at=self.started_at,
            pool_size=self.pool_size,
        )
        self.stats.record(snapshot)
        self.stats.expire()
        try:
            await self.node.broadcast(TOPIC, "snapshot", snapshot.to_payload())
        finally:
            self.node.local_broadcast(TICK_TOPIC, "tick", {"node": snapshot.node, "at": snapshot.at})
        return snapshot

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.report()
            except Exception:
                logger.warning("could not report this node's stats", exc_info=True)

    def _heard(self, item: pubsub.Message | pubsub.Gap) -> None:
        # Our own snapshot comes back too: it is kept already (`record` ignores a repeat).
        if not isinstance(item, pubsub.Message) or not isinstance(item.payload, dict):
            return
        try:
            snapshot = Snapshot.from_payload(item.payload)
        except (KeyError, TypeError, ValueError):
            logger.warning("ignored a malformed node snapshot from %s", item.payload.get("node"))
            return
        if snapshot.node != self.node.node_id:
            self.stats.record(snapshot)
