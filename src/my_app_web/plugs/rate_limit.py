"""Brute-force and abuse protection with the `limits` library: in memory, or in Redis when REDIS_URL is set.

Every limit is counted hit-then-test: `hit` takes one unit for the request and answers 429 when
that went over the limit, in one atomic step of the storage (a lock in memory, a Lua script in
Redis). There is no gap between "may it?" and "count it" for parallel requests to slip through:
twenty log-ins sent at once for one email get five answers and fifteen 429s.

- `login`: every password check (log-in, and the API's password and email changes, which ask for the
  current password), per account and per client IP (RATE_LIMIT_LOGIN), in a moving window;
- `email_requests`: requests that send an email, per address and per client IP (RATE_LIMIT_EMAIL_REQUESTS);
- `registration`: sign-ups per client IP (RATE_LIMIT_REGISTRATION), in fixed windows: a counter per
  window, so a very high limit (test harnesses, load tests) switches it off in effect at no cost,
  where a moving window would keep an entry per sign-up.

Memory storage is per process: with several server processes or nodes, set REDIS_URL so that all
of them count together.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from fastapi import HTTPException
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool

from my_app.config import Settings


class TooManyRequests(HTTPException):
    def __init__(self, retry_after: int) -> None:
        super().__init__(status_code=429, headers={"retry-after": str(retry_after)})


@dataclass(frozen=True)
class Limit:
    """One limit: how many in what time (`item`, from a setting like "5/5 minutes"), and how counted."""

    item: RateLimitItem
    strategy: RateLimiter


@dataclass
class Limiter:
    """Counts events per key and refuses once a limit is reached (429 with retry-after)."""

    storage: Storage
    login: Limit
    email_requests: Limit
    registration: Limit
    redis_pool: ConnectionPool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Limiter:
        storage: Storage
        if settings.redis_url:
            # Our own pool (redis-py, which PubSub uses too), so that `close` can release it.
            pool = ConnectionPool.from_url(settings.redis_url)
            # limits documents `connection_pool` but types its options as scalars.
            storage = storage_from_string(  # type: ignore[assignment]
                f"async+{settings.redis_url}",
                implementation="redispy",
                connection_pool=pool,  # type: ignore[arg-type]
            )
        else:
            pool, storage = None, storage_from_string("async+memory://")  # type: ignore[assignment]
        moving, fixed = MovingWindowRateLimiter(storage), FixedWindowRateLimiter(storage)
        return cls(
            storage=storage,
            login=Limit(parse(settings.rate_limit_login), moving),
            email_requests=Limit(parse(settings.rate_limit_email_requests), moving),
            registration=Limit(parse(settings.rate_limit_registration), fixed),
            redis_pool=pool,
        )

    async def close(self) -> None:
        if self.redis_pool is not None:
            await self.redis_pool.aclose()

    async def hit(self, limit: Limit, *keys: str) -> None:
        """Count this request against every key, atomically; 429 (with retry-after) when any is over.

        Call it before the work it guards (the password check, the email): a request refused here
        did nothing. A key already over its limit is not counted further by the moving window.

        Examples:
            await limiter.hit(limiter.login, "login:email:ada@example.com", "login:ip:203.0.113.7")
            # ... the sixth time within 5 minutes: TooManyRequests (429, retry-after: seconds)
        """
        refused = [key for key in keys if not await limit.strategy.hit(limit.item, key)]
        if refused:
            raise TooManyRequests(max([await self._retry_after(limit, key) for key in refused]))

    async def reset(self, limit: Limit, *keys: str) -> None:
        """Forget the counts of `keys` (e.g. an account's failed log-ins once its owner gets in)."""
        for key in keys:
            await limit.strategy.clear(limit.item, key)

    async def _retry_after(self, limit: Limit, key: str) -> int:
        stats = await limit.strategy.get_window_stats(limit.item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))
