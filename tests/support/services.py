"""Services some tests need beside PostgreSQL (Redis): where to find them, and what a missing one means.

On a developer's machine a test whose service is missing is skipped, with the reason. With `CI=true`
it fails instead: `.ci/run` installs and starts every service, so a skip there would be a test
that claims to run and does not.

Mark a test, a module (`pytestmark`) or a parameter (`pytest.param(..., marks=...)`) with
`needs_redis()`, or with `needs_service(name, available, hint)` for another service. The check runs
when the test is set up, not at collection, and each check is made once per process. This module
is a pytest plugin (tests/conftest.py loads it): its `pytest_runtest_setup` acts on the marks.

Redis is found at REDIS_URL when it is set (as the app finds it), else at the default local port,
where `.ci/run` starts it. The suite leaves REDIS_URL unset in CI, so the app under test keeps
its default PubSub (PostgreSQL); the Redis tests pass REDIS_URL to what they start.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import pytest
import redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_URL = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL

MARK = "requires_service"


def in_ci() -> bool:
    """True when the CI variable says so (`CI=true`, as GitHub, GitLab and `.ci/run`'s callers set it).

    Examples:
        >>> in_ci()  # under CI=true
        True
    """
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_service(name: str, available: bool, hint: str) -> None:
    """Go on when the service is available; otherwise skip the test, or fail it under `CI=true`.

    Examples:
        >>> require_service("Redis", redis_answers(REDIS_URL), f"start redis-server on {REDIS_URL}")
    """
    if available:
        return
    if in_ci():
        pytest.fail(
            f"{name} is not available: {hint}. With CI=true this fails instead of skipping,"
            f" since a skip would hide the test (.ci/run installs and starts {name}).",
            pytrace=False,
        )
    pytest.skip(f"{name} is not available: {hint}")


def needs_service(name: str, available: Callable[[], bool], hint: str) -> pytest.MarkDecorator:
    """A mark: `require_service(name, available(), hint)` before the test runs.

    Examples:
        >>> needs_memcached = needs_service("Memcached", lambda: port_open(11211), "start memcached")
        >>> @needs_memcached
        ... def test_cache() -> None: ...
    """
    return getattr(pytest.mark, MARK)(name, available, hint)


@functools.cache
def redis_answers(url: str) -> bool:
    """True when a Redis server answers PING at `url` within a second."""
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def needs_redis() -> pytest.MarkDecorator:
    """A mark for tests that need Redis at REDIS_URL: skipped without it, failed without it in CI."""
    return needs_service(
        "Redis", lambda: redis_answers(REDIS_URL), f"nothing answers at {REDIS_URL} (set REDIS_URL, or start Redis)"
    )


# --- pytest hooks (this module is loaded as a plugin) ---


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARK}(name, available, hint): skip without the service; fail without it when CI=true"
    )


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures start anything (as skipif marks do)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers(MARK):
        name, available, hint = mark.args
        require_service(name, available(), hint)


def redis_url() -> str:
    """REDIS_URL for a test (or fixture) that needs Redis right now: skipped without it, failed without it in CI."""
    require_service(
        "Redis", redis_answers(REDIS_URL), f"nothing answers at {REDIS_URL} (set REDIS_URL, or start Redis)"
    )
    return REDIS_URL
