"""Node stats: a node's snapshot of itself (read from its metrics), what every node keeps of all nodes
(latest per node, expiry of silent nodes, a bounded history, rates and latency quantiles), and the
reporter that broadcasts snapshots between nodes."""

from __future__ import annotations

import asyncio
import math
import os
import socket
from dataclasses import replace

import pytest
from sqlalchemy import text

from my_app import application, database, metrics, node_stats, pubsub, repo
from my_app.config import Settings
from my_app.node_stats import NodeStats, Reporter, Snapshot
from my_app.pubsub import Message, PostgresAdapter
from tests.support.pubsub import (
    StartNode,
    eventually,
    start_node_fixture,  # noqa: F401 - fixture
)
from tests.support.slow_queries import empty_slow_query_log_fixture  # noqa: F401 - fixture

BOUNDS = (0.01, 0.1, math.inf)


def snapshot(
    node: str = "node-a", *, at: float, requests: int = 0, buckets: tuple[int, int, int] = (0, 0, 0)
) -> Snapshot:
    return Snapshot(
        node=node,
        pid=100,
        host="web-1",
        started_at=at - 60,
        at=at,
        requests=requests,
        latency_buckets=tuple(zip(BOUNDS, buckets, strict=True)),
        sockets=3,
        presences=2,
        pool_in_use=1,
        pool_idle=4,
        pool_size=15,
        rss_bytes=50_000_000,
        loop_lag_seconds=0.001,
        slow_queries=(node_stats.SlowQuery(sql="SELECT pg_sleep(0.2)", seconds=0.2, at=at - 1),),
    )


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- A snapshot of this process ---


def test_a_snapshot_reads_this_process_metrics() -> None:
    before = node_stats.take_snapshot("me", started_at=0.0)
    metrics.HTTP_REQUESTS.labels(method="GET", route="/node-stats-test", status="200").inc()
    metrics.HTTP_REQUEST_DURATION.labels(method="GET", route="/node-stats-test").observe(0.003)

    metrics.EVENT_LOOP_LAG.set(0.002)  # as the process sampler does every few seconds
    after = node_stats.take_snapshot("me", started_at=0.0)

    assert after.requests == before.requests + 1
    grew = [le for le, count in node_stats.bucket_delta(after, before) if count == 1]
    assert grew[0] == 0.005  # the smallest bucket that holds 3 ms, and every larger one
    assert math.isinf(after.latency_buckets[-1][0])
    assert (after.pid, after.host, after.loop_lag_seconds) == (os.getpid(), socket.gethostname(), 0.002)
    assert after.rss_bytes is not None
    assert after.rss_bytes > 10_000_000


@pytest.mark.usefixtures("empty_slow_query_log")
async def test_a_snapshot_reads_the_repo_pool_and_the_slowest_queries(started_app: application.Application) -> None:
    async with repo.engine().connect() as connection:
        await connection.execute(text("SELECT pg_sleep(0.05) AS node_stats_test"))
        in_use, _ = node_stats.pool_usage()
        assert in_use >= 1

    taken = node_stats.take_snapshot("me", started_at=0.0)

    assert any("node_stats_test" in query.sql and query.seconds >= 0.05 for query in taken.slow_queries)
    assert taken.pool_idle >= 1


def test_a_snapshot_survives_json_and_refuses_a_malformed_payload() -> None:
    taken = snapshot(at=1000.0, requests=5, buckets=(1, 4, 5))
    payload = taken.to_payload()

    assert payload["latency_buckets"][-1] == [None, 5]  # JSON has no Infinity
    assert Snapshot.from_payload(payload) == taken
    with pytest.raises(KeyError):
        Snapshot.from_payload({"node": "x"})


# --- What a node keeps ---


def test_quantiles_interpolate_inside_a_bucket_like_prometheus() -> None:
    buckets = [(0.01, 50), (0.1, 100), (math.inf, 100)]
    assert node_stats.quantile(0.5, buckets) == pytest.approx(0.01)
    assert node_stats.quantile(0.75, buckets) == pytest.approx(0.055)
    assert node_stats.quantile(0.5, [(0.01, 0), (math.inf, 0)]) is None
    assert node_stats.quantile(0.99, [(0.01, 1), (math.inf, 10)]) == 0.01  # beyond the last bound


def test_keeps_the_latest_snapshot_per_node_and_forgets_silent_nodes() -> None:
    clock = Clock(1000.0)
    stats = NodeStats(interval=2.0, clock=clock)
    stats.record(snapshot("node-a", at=996.0))
    stats.record(snapshot("node-a", at=998.0))
    stats.record(snapshot("node-b", at=1000.0))
    stats.record(snapshot("node-a", at=997.0))  # late, older: ignored

    assert [(s.node, s.at) for s in stats.nodes()] == [("node-a", 998.0), ("node-b", 1000.0)]

    clock.now = 1004.5  # node-a silent for 6.5 s: more than 3 intervals
    assert [s.node for s in stats.nodes()] == ["node-b"]
    clock.now = 1006.5
    assert stats.nodes() == []


def test_history_is_bounded_to_the_last_five_minutes() -> None:
    stats = NodeStats(interval=2.0, clock=Clock(2000.0))
    for at in range(1000, 2001, 2):
        stats.record(snapshot(at=float(at), requests=at))

    points = stats.series()

    assert points[0].at >= 2000 - node_stats.HISTORY_SECONDS
    assert len(points) == node_stats.HISTORY_SECONDS / 2
    assert all(point.requests_per_second == pytest.approx(1.0) for point in points)


def test_overview_adds_up_the_nodes_rates_latencies_sockets_and_presences() -> None:
    stats = NodeStats(interval=2.0, clock=Clock(1030.0))
    # node-a: 60 requests in 30 s, all under 10 ms; node-b: 30 requests, all between 10 and 100 ms.
    stats.record(snapshot("node-a", at=1000.0, requests=100, buckets=(100, 100, 100)))
    stats.record(snapshot("node-a", at=1030.0, requests=160, buckets=(160, 160, 160)))
    stats.record(snapshot("node-b", at=1000.0, requests=0))
    stats.record(snapshot("node-b", at=1030.0, requests=30, buckets=(0, 30, 30)))

    overview = stats.overview()

    assert overview.nodes == 2
    assert overview.requests_per_second == pytest.approx(3.0)
    assert overview.p50 is not None
    assert overview.p50 <= 0.01
    assert overview.p95 is not None
    assert 0.01 < overview.p95 <= 0.1
    assert (overview.sockets, overview.presences) == (6, 4)


def test_series_sums_the_nodes_per_interval() -> None:
    stats = NodeStats(interval=2.0, clock=Clock(1004.0))
    for node, per_tick in (("node-a", 10), ("node-b", 4)):
        for tick in range(3):
            stats.record(snapshot(node, at=1000.0 + 2 * tick, requests=per_tick * tick, buckets=(per_tick * tick,) * 3))

    points = stats.series()

    assert [(p.at, p.requests_per_second) for p in points] == [(1002.0, 7.0), (1004.0, 7.0)]
    assert all(p.p50 is not None and p.p50 <= 0.01 for p in points)


def test_slowest_queries_of_all_nodes_slowest_first() -> None:
    stats = NodeStats(interval=2.0, clock=Clock(1000.0))
    stats.record(snapshot("node-a", at=1000.0))
    slow = node_stats.SlowQuery(sql="SELECT 1 FROM big", seconds=0.9, at=999.0)
    stats.record(replace(snapshot("node-b", at=1000.0), slow_queries=(slow,)))

    assert [(s.node, q.sql) for s, q in stats.slowest_queries()] == [
        ("node-b", "SELECT 1 FROM big"),
        ("node-a", "SELECT pg_sleep(0.2)"),
    ]


# --- Reporting between nodes ---


@pytest.fixture
def database_url(settings: Settings) -> str:
    return database.resolve(settings).url


async def test_each_node_hears_the_others_and_forgets_one_that_stops(start_node: StartNode, database_url: str) -> None:
    here, there = await start_node(PostgresAdapter(database_url)), await start_node(PostgresAdapter(database_url))
    kept_here, kept_there = NodeStats(interval=0.2), NodeStats(interval=0.2)
    reporters = [Reporter(here, kept_here, interval=0.2), Reporter(there, kept_there, interval=0.2)]
    ticks: asyncio.Queue[Message] = asyncio.Queue()
    here.subscribe(node_stats.TICK_TOPIC, on_message=lambda item: ticks.put_nowait(item))  # type: ignore[arg-type]
    for reporter in reporters:
        await reporter.start()
    try:
        both = {here.node_id, there.node_id}
        await eventually(lambda: {s.node for s in kept_here.nodes()} == both, "here to know both nodes")
        await eventually(lambda: {s.node for s in kept_there.nodes()} == both, "there to know both nodes")
        tick = await asyncio.wait_for(ticks.get(), 5)
        assert tick.payload["node"] == here.node_id  # the local pages hear their own node's tick only
        assert kept_here.latest(there.node_id) is not None

        await reporters[1].stop()  # `there` goes silent: forgotten after 3 intervals

        await eventually(lambda: [s.node for s in kept_here.nodes()] == [here.node_id], "here to forget there")
    finally:
        for reporter in reporters:
            await reporter.stop()


async def test_a_malformed_snapshot_is_ignored(start_node: StartNode, database_url: str) -> None:
    here, there = await start_node(PostgresAdapter(database_url)), await start_node(PostgresAdapter(database_url))
    kept = NodeStats(interval=0.2)
    reporter = Reporter(here, kept, interval=60)
    await reporter.start()
    try:
        await there.broadcast(node_stats.TOPIC, "snapshot", {"node": "broken"})
        good = snapshot(there.node_id, at=kept.clock())
        await there.broadcast(node_stats.TOPIC, "snapshot", good.to_payload())
        await eventually(lambda: kept.latest(there.node_id) is not None, "the good snapshot to arrive")
        assert kept.latest("broken") is None
    finally:
        await reporter.stop()


async def test_the_app_reports_this_node(started_app: application.Application) -> None:
    child = started_app.child(application.NodeStatsChild)
    assert child is not None
    assert child.reporter is not None

    reported = await child.reporter.report()

    assert reported.node == pubsub.node_id()
    assert node_stats.current().latest(pubsub.node_id()) == reported
    assert reported.pool_size == started_app.settings.pool_size + started_app.settings.max_overflow


async def test_the_app_reports_every_node_stats_interval(settings: Settings) -> None:
    fast = settings.model_copy(update={"node_stats_interval": 0.1})
    async with application.lifespan(fast, run_jobs=False):
        ticks: asyncio.Queue[Message] = asyncio.Queue()
        pubsub.subscribe(node_stats.TICK_TOPIC, on_message=lambda item: ticks.put_nowait(item))  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        began = loop.time()

        for _ in range(5):  # five reports in about half a second, where the default waits 2 s for one
            tick = await asyncio.wait_for(ticks.get(), 1)
            assert tick.payload["node"] == pubsub.node_id()  # this (inner) app's node

        assert loop.time() - began < 1.5
        assert node_stats.current().interval == 0.1
