"""How long to wait before trying again: one exponential backoff for reconnects and job retries."""

from __future__ import annotations

import random


def backoff_seconds(attempt: int, *, base: float, maximum: float, spread: tuple[float, float]) -> float:
    """Wait before try number `attempt` (1, 2, ...): base·2^(attempt-1), capped at `maximum`, times a
    random factor between `spread[0]` and `spread[1]`.

    The random factor (jitter) keeps clients that failed together — nodes that lost the database,
    jobs that lost the mail server — from all coming back at the same instant.

    Examples:
        backoff_seconds(1, base=15, maximum=3600, spread=(1.0, 1.1))    # 15 .. 16.5
        backoff_seconds(3, base=0.2, maximum=30, spread=(0.5, 1.0))     # 0.4 .. 0.8
    """
    delay = min(maximum, base * 2 ** min(attempt - 1, 32))
    return float(delay * random.uniform(*spread))  # noqa: S311 - jitter, not cryptography
