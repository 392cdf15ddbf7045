"""The read cache (my_app.cache): hits and misses counted, TTL, the never-stale write protocol, and
Redis (shared, or down) beside `mem://`.

The Redis cases need Redis on REDIS_URL (default 127.0.0.1:6379, which CI starts): skipped without
it, failed without it under CI=true. Each test uses a namespace of its own, so runs sharing one
Redis never meet.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from my_app import cache
from my_app.cache import RETRY_INTERVAL, Cache, CacheStats, CacheUnavailableError
from my_app.config import ConfigError, Settings
from tests.support.processes import free_port, wait_until
from tests.support.services import REDIS_URL, needs_redis, needs_service, redis_answers

REDIS_SERVER = shutil.which("redis-server")

DEAD_REDIS = "redis://127.0.0.1:1/0"  # port 1 on loopback: nothing listens, every connection is refused


def loader(value: Any) -> tuple[Callable[[], Any], list[int]]:
    """A load function returning `value`, and the list its calls are counted in."""
    calls: list[int] = []

    async def load() -> Any:
        calls.append(1)
        return value

    return load, calls


@pytest.fixture(params=["mem", pytest.param("redis", marks=needs_redis())])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    """A started cache of each kind, in a namespace of its own."""
    url = "mem://" if request.param == "mem" else REDIS_URL
    started = Cache(url, ttl=60, secret="s" * 64, namespace=f"test-{uuid.uuid4().hex}")
    await started.start()
    try:
        yield started
    finally:
        await started.clear()
        await started.stop()


async def test_a_second_read_is_a_hit_and_both_are_counted(store: Cache) -> None:
    load, calls = loader({"name": "Tea"})

    first = await store.fetch("thing:1", ("thing:1",), load)  # a miss, kept
    second = await store.fetch("thing:1", ("thing:1",), load)  # a hit
    third = await store.fetch("thing:1", ("thing:1",), load)  # a hit

    assert first == second == third == {"name": "Tea"}
    assert len(calls) == 1
    assert store.stats() == CacheStats(hits=2, misses=1, errors=0)


async def test_none_is_never_kept(store: Cache) -> None:
    load, calls = loader(None)

    for _ in range(3):
        assert await store.fetch("missing", ("missing",), load) is None

    assert len(calls) == 3
    assert store.stats().hits == 0


async def test_a_write_moves_the_state_so_the_next_read_loads_again(store: Cache) -> None:
    await store.fetch("thing", ("thing",), loader("old")[0])
    await store.fetch("thing", ("thing",), loader("old")[0])

    async with store.writing("thing"):
        pass
    load, calls = loader("new")

    assert await store.fetch("thing", ("thing",), load) == "new"
    assert await store.fetch("thing", ("thing",), load) == "new"
    assert len(calls) == 1  # loaded once after the write, then a hit


async def test_a_value_depends_on_every_state_it_names(store: Cache) -> None:
    states = ("product:1", "categories")
    await store.fetch("product:1", states, loader("old")[0])
    await store.fetch("product:1", states, loader("old")[0])

    async with store.writing("categories"):
        pass

    assert await store.fetch("product:1", states, loader("new")[0]) == "new"


async def test_nothing_is_kept_while_a_write_is_in_flight(store: Cache) -> None:
    await store.fetch("thing", ("thing",), loader("old")[0])

    async with store.writing("thing"):
        # A reader during the write (before its commit) reads the database and keeps nothing ...
        during, during_calls = loader("old")
        assert await store.fetch("thing", ("thing",), during) == "old"
        assert await store.fetch("thing", ("thing",), during) == "old"
        assert len(during_calls) == 2

    # ... so after the write nobody gets what it read.
    assert await store.fetch("thing", ("thing",), loader("new")[0]) == "new"


async def test_a_reader_that_raced_a_write_keeps_its_old_value_where_no_one_looks(store: Cache) -> None:
    await store.fetch("thing", ("thing",), loader(None)[0])  # the state exists now (None is not kept)
    gate, loading = asyncio.Event(), asyncio.Event()

    async def slow_load() -> str:
        loading.set()
        await gate.wait()
        return "v1"  # what the database held when this reader looked: before the write

    racer = asyncio.create_task(store.fetch("thing", ("thing",), slow_load))
    await asyncio.wait_for(loading.wait(), 5)
    async with store.writing("thing"):
        pass  # the write commits and returns while the reader still holds the old value
    gate.set()
    assert await asyncio.wait_for(racer, 5) == "v1"

    assert await store.fetch("thing", ("thing",), loader("v2")[0]) == "v2"
    assert await store.fetch("thing", ("thing",), loader("v3")[0]) == "v2"  # kept, and a hit


async def test_values_expire_after_the_ttl() -> None:
    short = Cache("mem://", ttl=0.2, namespace="ttl")
    await short.start()
    try:
        load, calls = loader("value")
        await short.fetch("thing", ("thing",), load)
        await short.fetch("thing", ("thing",), load)
        assert len(calls) == 1

        await asyncio.sleep(0.4)

        await short.fetch("thing", ("thing",), load)
        assert len(calls) == 2
    finally:
        await short.stop()


async def test_an_off_cache_always_loads_and_counts_nothing() -> None:
    off = Cache(None)
    load, calls = loader("value")

    for _ in range(3):
        assert await off.fetch("thing", ("thing",), load) == "value"
    async with off.writing("thing"):
        pass
    await off.ping()

    assert len(calls) == 3
    assert off.stats() == CacheStats(hits=0, misses=0, errors=0)


async def test_the_module_functions_use_the_running_cache() -> None:
    own = Cache("mem://", namespace="module")
    await own.start()
    try:
        with cache.running.holding(own):
            load, calls = loader([1, 2])
            for _ in range(3):
                assert await cache.fetch("list", ("list",), load) == [1, 2]
            async with cache.writing("list"):
                pass
            await cache.fetch("list", ("list",), load)
            await cache.ping()
            assert cache.stats() == CacheStats(hits=2, misses=2, errors=0)
            await cache.clear()
        assert len(calls) == 2
    finally:
        await own.stop()


# --- Redis: shared by processes, and down ---


@needs_redis()
async def test_two_processes_sharing_redis_never_read_a_replaced_value() -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    here, there = (Cache(REDIS_URL, secret="s" * 64, namespace=namespace) for _ in range(2))
    await here.start()
    await there.start()
    try:
        database = {"price": "1.00"}

        async def load() -> dict[str, str]:
            return dict(database)

        for round_ in range(20):
            assert await there.fetch("p", ("p",), load) == database
            assert await there.fetch("p", ("p",), load) == database
            async with here.writing("p"):
                database["price"] = f"{round_ + 2}.00"  # the write, "committed" inside the block
            assert await there.fetch("p", ("p",), load) == database
        assert there.stats().hits >= 20
    finally:
        await here.clear()
        await here.stop()
        await there.stop()


@needs_redis()
async def test_a_value_not_signed_with_our_secret_is_not_unpickled() -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    ours = Cache(REDIS_URL, secret="a" * 64, namespace=namespace)
    theirs = Cache(REDIS_URL, secret="b" * 64, namespace=namespace)
    await ours.start()
    await theirs.start()
    try:
        await theirs.fetch("p", ("p",), loader("theirs")[0])  # kept, signed with their secret

        assert await ours.fetch("p", ("p",), loader("ours")[0]) == "ours"
        assert ours.stats() == CacheStats(hits=0, misses=1, errors=1)
        assert await ours.fetch("p", ("p",), loader("unused")[0]) == "ours"  # ours replaced theirs
    finally:
        await ours.clear()
        await ours.stop()
        await theirs.stop()


async def test_reads_use_the_database_at_once_while_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    down = Cache(DEAD_REDIS, timeout=0.5, namespace="down")
    await down.start()  # starts anyway: the app must come up while Redis is down
    try:
        load, calls = loader("from the database")
        started = time.monotonic()
        for _ in range(50):
            assert await down.fetch("thing", ("thing",), load) == "from the database"
        elapsed = time.monotonic() - started

        assert len(calls) == 50
        assert elapsed < 1.0
        assert down.stats().errors >= 1
        assert down.stats().misses == 50
        assert "cache unavailable" in caplog.text
        with pytest.raises(Exception):  # noqa: B017, PT011 - /ready only needs "it does not answer"
            await down.ping()
    finally:
        await down.stop()


async def test_a_write_is_refused_before_anything_is_written_while_redis_is_down() -> None:
    down = Cache(DEAD_REDIS, timeout=0.5, namespace="down")
    await down.start()
    wrote: list[int] = []
    try:
        with pytest.raises(CacheUnavailableError):
            async with down.writing("thing"):
                wrote.append(1)
    finally:
        await down.stop()

    assert wrote == []


def start_redis(port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    """A redis-server of the test's own on `port` (no persistence), answering PING."""
    process = subprocess.Popen(
        [REDIS_SERVER or "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    wait_until(lambda: redis_answers.__wrapped__(url), timeout=10, message=f"redis-server on {port} never answered")
    return process


@needs_service("redis-server", lambda: REDIS_SERVER is not None, "install redis-server (Debian's redis-server)")
async def test_redis_killed_and_restarted_reads_fall_back_then_use_it_again(tmp_path: Path) -> None:
    port = free_port()
    redis_process = start_redis(port, tmp_path)
    shared = Cache(f"redis://127.0.0.1:{port}/0", timeout=0.5, secret="s" * 64, namespace="restart")
    await shared.start()
    try:
        load, calls = loader("value")
        await shared.fetch("thing", ("thing",), load)
        assert await shared.fetch("thing", ("thing",), load) == "value"
        assert (shared.stats().hits, len(calls)) == (1, 1)

        redis_process.kill()
        redis_process.wait(10)
        started = time.monotonic()
        for _ in range(20):
            assert await shared.fetch("thing", ("thing",), load) == "value"
        assert time.monotonic() - started < 1.5
        assert len(calls) == 21  # each from the database
        with pytest.raises(CacheUnavailableError):
            async with shared.writing("thing"):
                pass

        redis_process = start_redis(port, tmp_path)
        await asyncio.sleep(RETRY_INTERVAL + 0.1)
        hits = shared.stats().hits
        await shared.fetch("thing", ("thing",), load)  # kept again (the restarted Redis is empty)
        assert await shared.fetch("thing", ("thing",), load) == "value"
        assert shared.stats().hits == hits + 1
        async with shared.writing("thing"):
            pass
    finally:
        await shared.stop()
        redis_process.kill()
        redis_process.wait(10)


# --- Settings: where the cache lives ---


def test_the_cache_is_redis_when_redis_url_is_set() -> None:
    assert Settings(redis_url=REDIS_URL).cache_backend_url == REDIS_URL


def test_the_cache_is_in_memory_for_one_process_and_off_for_several() -> None:
    assert Settings(env="test").cache_backend_url == "mem://"
    assert Settings(env="test", web_concurrency=2).cache_backend_url is None
    assert Settings(env="test", cache_url="off").cache_backend_url is None


def test_mem_with_several_workers_is_refused() -> None:
    with pytest.raises(ConfigError, match="WEB_CONCURRENCY"):
        Settings(env="test", cache_url="mem://", web_concurrency=2)
