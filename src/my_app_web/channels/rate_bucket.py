"""A token bucket: how many messages a socket may send (`connection.RATE_PER_SECOND`, `RATE_BURST`)."""

from __future__ import annotations

import time


class TokenBucket:
    """A token bucket: `rate` messages a second, bursts up to `burst`."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
