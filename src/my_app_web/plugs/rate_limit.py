"""Brute-force and abuse protection with the `limits` library: in memory, or in Redis when REDIS_URL is set.

Every limit is counted hit-then-test: `hit` adds the request to each key's count and answers 429
when that went over the limit, in one atomic step of the storage (a lock in memory, INCRBY in
Redis). There is no gap between "may it?" and "count it" for parallel requests to slip through:
twenty log-ins sent at once for one email get five answers and fifteen 429s.

- `login`: every password check (log-in, and the API's password and email changes, which ask for
  the current password), per account and per client IP (RATE_LIMIT_LOGIN). A right password is
  refunded afterwards, so only failures stay counted;
- `email_requests`: requests that send an email, per address and per client IP (RATE_LIMIT_EMAIL_REQUESTS);
- `registration`: sign-ups per client IP (RATE_LIMIT_REGISTRATION).

Counts are `limits`' fixed windows: a counter per key that starts at the key's first hit and
lasts the period ("5/5 minutes": 5 in the 5 minutes after the first). A counter costs the same
whatever the limit, so a very high limit (test harnesses, load tests) switches one off in effect,
and a count can be taken back (a refund: a hit of cost -1), which a moving window cannot do.

Memory storage is per process: with several server processes or nodes, set REDIS_URL so that all
of them count together.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from my_app.config import Settings
from my_app_web.plugs.client_ip import client_ip

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool


class TooManyRequests(HTTPException):
    def __init__(self, retry_after: int) -> None:
        super().__init__(status_code=429, headers={"retry-after": str(retry_after)})


@dataclass
class Limiter:
    """Counts events per key and refuses once a limit is reached (429 with retry-after)."""

    strategy: FixedWindowRateLimiter
    login: RateLimitItem
    email_requests: RateLimitItem
    registration: RateLimitItem
    redis_pool: ConnectionPool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Limiter:
        storage: Storage
        if settings.redis_url:
            from redis.asyncio import ConnectionPool  # here: redis-py (~100 ms to import) only when Redis is used

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
        return cls(
            strategy=FixedWindowRateLimiter(storage),
            login=parse(settings.rate_limit_login),
            email_requests=parse(settings.rate_limit_email_requests),
            registration=parse(settings.rate_limit_registration),
            redis_pool=pool,
        )

    @property
    def storage(self) -> Storage:
        return self.strategy.storage

    async def close(self) -> None:
        if self.redis_pool is not None:
            await self.redis_pool.aclose()

    async def hit(self, item: RateLimitItem, *keys: str) -> None:
        """Count this request against every key, atomically; 429 (with retry-after) when any went over.

        Call it before the work it guards (the password check, the email). A refused request did
        nothing, so it is taken back from every key: only requests that ran are counted.

        Examples:
            await limiter.hit(limiter.login, "login:email:ada@example.com", "login:ip:203.0.113.7")
            # ... the sixth time within the window: TooManyRequests (429, retry-after: seconds)
        """
        refused = [key for key in keys if not await self.strategy.hit(item, key)]
        if refused:
            retry_after = max([await self._retry_after(item, key) for key in refused])
            await self.refund(item, *keys)
            raise TooManyRequests(retry_after)

    async def refund(self, item: RateLimitItem, *keys: str) -> None:
        """Take one count back from every key (e.g. a log-in whose password was right).

        Examples:
            await limiter.hit(limiter.login, key)     # counted before the password check
            await limiter.refund(limiter.login, key)  # the password was right: it does not count
        """
        for key in keys:
            await self.strategy.hit(item, key, cost=-1)

    async def reset(self, item: RateLimitItem, *keys: str) -> None:
        """Forget the counts of `keys`."""
        for key in keys:
            await self.strategy.clear(item, key)

    async def _retry_after(self, item: RateLimitItem, key: str) -> int:
        stats = await self.strategy.get_window_stats(item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))


def limiter_of(request: Request) -> Limiter:
    """The app's limiter (made once by the endpoint, shared by every route)."""
    limiter: Limiter = request.app.state.limiter
    return limiter


async def count_email_request(request: Request, kind: str, email: str) -> None:
    """Count a request that sends an email (`kind`: reset, confirm, magic), per address and per client IP.

    The API and the browser pages share the counts: a client gets no more emails sent through one
    door than through the other. 429 past RATE_LIMIT_EMAIL_REQUESTS.

    Examples:
        await count_email_request(request, "magic", "ada@example.com")
    """
    limiter = limiter_of(request)
    await limiter.hit(limiter.email_requests, f"{kind}:ip:{client_ip(request)}", f"{kind}:email:{email.lower()}")
