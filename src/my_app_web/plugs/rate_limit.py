"""Brute-force protection with the `limits` library: in memory, or in Redis when REDIS_URL is set.

Memory storage is per process: with several server processes or nodes, set REDIS_URL so that all
of them count together.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from fastapi import HTTPException
from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool

from my_app.config import Settings


class TooManyRequests(HTTPException):
    def __init__(self, retry_after: int) -> None:
        super().__init__(status_code=429, headers={"retry-after": str(retry_after)})


@dataclass
class Limiter:
    """Counts events per key in a moving window and refuses once a limit is reached."""

    strategy: MovingWindowRateLimiter
    login: RateLimitItem
    email_requests: RateLimitItem
    redis_pool: ConnectionPool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Limiter:
        if settings.redis_url:
            # Our own pool (redis-py, which PubSub uses too), so that `close` can release it.
            pool = ConnectionPool.from_url(settings.redis_url)
            # limits documents `connection_pool` but types its options as scalars.
            storage = storage_from_string(
                f"async+{settings.redis_url}",
                implementation="redispy",
                connection_pool=pool,  # type: ignore[arg-type]
            )
        else:
            pool, storage = None, storage_from_string("async+memory://")
        return cls(
            strategy=MovingWindowRateLimiter(storage),
            login=parse(settings.rate_limit_login),
            email_requests=parse(settings.rate_limit_email_requests),
            redis_pool=pool,
        )

    async def close(self) -> None:
        if self.redis_pool is not None:
            await self.redis_pool.aclose()

    async def ensure_allowed(self, item: RateLimitItem, *keys: str) -> None:
        """Raise 429 (with retry-after) if any key has used up `item`."""
        for key in keys:
            if not await self.strategy.test(item, key):
                raise TooManyRequests(await self._retry_after(item, key))

    async def hit(self, item: RateLimitItem, *keys: str) -> None:
        for key in keys:
            await self.strategy.hit(item, key)

    async def hit_or_refuse(self, item: RateLimitItem, *keys: str) -> None:
        """Count this request against every key; 429 once any of them is over the limit."""
        await self.ensure_allowed(item, *keys)
        await self.hit(item, *keys)

    async def reset(self, item: RateLimitItem, *keys: str) -> None:
        for key in keys:
            await self.strategy.clear(item, key)

    async def _retry_after(self, item: RateLimitItem, key: str) -> int:
        stats = await self.strategy.get_window_stats(item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))
