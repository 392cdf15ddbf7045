"""cache_requests_total{result}: each read of the cache, a hit, a miss or an error, counted where stats() counts it."""

from __future__ import annotations

import uuid
from typing import Any

from my_app import metrics
from my_app.cache import Cache, CacheStats
from tests.support.services import REDIS_URL, needs_redis

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there: every connection is refused


def reads() -> dict[str, float]:
    return {
        result: metrics.registry.get_sample_value("cache_requests_total", {"result": result}) or 0.0
        for result in ("hit", "miss", "error")
    }


def delta(before: dict[str, float]) -> dict[str, float]:
    return {result: count - before[result] for result, count in reads().items()}


async def load() -> dict[str, Any]:
    return {"name": "Tea"}


async def test_a_miss_then_hits_are_counted() -> None:
    store = Cache("mem://", namespace=f"test-{uuid.uuid4().hex}")
    await store.start()
    before = reads()
    try:
        for _ in range(3):
            assert await store.fetch("thing:1", ("thing:1",), load) == {"name": "Tea"}
    finally:
        await store.stop()

    assert delta(before) == {"hit": 2, "miss": 1, "error": 0}
    assert store.stats() == CacheStats(hits=2, misses=1, errors=0)


async def test_reads_while_the_cache_is_down_are_counted_as_errors() -> None:
    down = Cache(DEAD_REDIS, timeout=0.5, namespace="down")
    await down.start()
    before = reads()
    try:
        for _ in range(5):
            assert await down.fetch("thing", ("thing",), load) == {"name": "Tea"}  # the database answers
    finally:
        await down.stop()

    assert delta(before) == {"hit": 0, "miss": 0, "error": 5}
    assert down.stats().misses == 5  # stats() counts every read the database answered


async def test_an_off_cache_counts_no_reads() -> None:
    off = Cache(None)
    before = reads()

    assert await off.fetch("thing", ("thing",), load) == {"name": "Tea"}

    assert delta(before) == {"hit": 0, "miss": 0, "error": 0}


@needs_redis()
async def test_a_value_not_signed_with_our_secret_is_counted_as_an_error() -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    ours = Cache(REDIS_URL, secret="a" * 64, namespace=namespace)
    theirs = Cache(REDIS_URL, secret="b" * 64, namespace=namespace)
    await ours.start()
    await theirs.start()
    try:
        await theirs.fetch("p", ("p",), load)  # kept, signed with their secret
        before = reads()

        await ours.fetch("p", ("p",), load)  # refused: the database answers, ours replaces it
        await ours.fetch("p", ("p",), load)  # ours now

        assert delta(before) == {"hit": 1, "miss": 0, "error": 1}
    finally:
        await ours.clear()
        await ours.stop()
        await theirs.stop()
