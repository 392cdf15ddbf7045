"""The limiter counts hit-then-test, atomically, in memory and in Redis alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from my_app.config import Settings
from my_app_web.plugs.rate_limit import Limiter, TooManyRequests
from tests.support.services import redis_url

LIMIT = 5  # RATE_LIMIT_LOGIN's default: "5/5 minutes"


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Limiter]:
    url = redis_url() if request.param == "redis" else None
    limiter = Limiter.from_settings(settings.model_copy(update={"redis_url": url}))
    yield limiter
    await limiter.close()


def unique_key() -> str:
    return f"test:{uuid.uuid4()}"  # Redis is shared between tests and runs: a key of our own


async def allowed(limiter: Limiter, *keys: str) -> bool:
    try:
        await limiter.hit(limiter.login, *keys)
    except TooManyRequests:
        return False
    return True


async def test_the_sixth_hit_within_the_window_is_refused_with_retry_after(limiter: Limiter) -> None:
    key = unique_key()
    for _ in range(LIMIT):
        await limiter.hit(limiter.login, key)

    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit(limiter.login, key)

    assert refused.value.status_code == 429
    assert refused.value.headers is not None
    assert 1 <= int(refused.value.headers["retry-after"]) <= 300
    # Another key (another email or IP address) is not affected.
    assert await allowed(limiter, f"{key}:other")


async def test_parallel_hits_on_one_key_let_exactly_the_limit_through(limiter: Limiter) -> None:
    key = unique_key()

    results = await asyncio.gather(*(allowed(limiter, key) for _ in range(20)))

    assert results.count(True) == LIMIT
    assert not await allowed(limiter, key)


async def test_a_refund_gives_one_hit_back(limiter: Limiter) -> None:
    key = unique_key()
    for _ in range(LIMIT):
        await limiter.hit(limiter.login, key)

    await limiter.refund(limiter.login, key)

    assert await allowed(limiter, key)
    assert not await allowed(limiter, key)


async def test_a_refused_hit_is_taken_back_from_every_key(limiter: Limiter) -> None:
    full, other = unique_key(), unique_key()
    for _ in range(LIMIT):
        await limiter.hit(limiter.login, full)

    for _ in range(3):
        assert not await allowed(limiter, full, other)

    # The refused requests did nothing: `other` still has its whole allowance.
    assert [await allowed(limiter, other) for _ in range(LIMIT + 1)] == [True] * LIMIT + [False]


async def test_a_very_high_limit_is_off_in_effect_and_costs_one_counter(settings: Settings) -> None:
    limiter = Limiter.from_settings(settings.model_copy(update={"rate_limit_registration": "1000000/hour"}))
    key = unique_key()

    for _ in range(5_000):
        await limiter.hit(limiter.registration, key)

    assert await limiter.strategy.storage.get(limiter.registration.key_for(key)) == 5_000
    await limiter.close()
