from __future__ import annotations

import uuid

import pytest

from my_app.config import Settings
from my_app_web.plugs.rate_limit import Limiter, TooManyRequests
from tests.support.services import REDIS_URL, needs_redis


@pytest.mark.parametrize("redis_url", [None, pytest.param(REDIS_URL, marks=needs_redis())], ids=["memory", "redis"])
async def test_the_sixth_attempt_within_the_window_is_refused_with_retry_after(
    settings: Settings, redis_url: str | None
) -> None:
    limiter = Limiter.from_settings(settings.model_copy(update={"redis_url": redis_url}))
    key = f"test:{uuid.uuid4()}"  # Redis is shared: a key of our own
    for _ in range(5):
        await limiter.hit_or_refuse(limiter.login, key)

    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit_or_refuse(limiter.login, key)

    assert refused.value.status_code == 429
    assert refused.value.headers is not None
    assert 1 <= int(refused.value.headers["retry-after"]) <= 300
    # Another key (another email or IP address) is not affected.
    await limiter.hit_or_refuse(limiter.login, f"{key}:other")
    await limiter.reset(limiter.login, key, f"{key}:other")
    await limiter.close()
