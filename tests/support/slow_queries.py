"""An empty slow-query log for a test (`repo.slowest_queries()` keeps the process's slowest few of the
last minutes: earlier tests' truncates and sleeps would push a test's own statement out of them)."""

from __future__ import annotations

import pytest

from my_app import repo


@pytest.fixture(name="empty_slow_query_log")
def empty_slow_query_log_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        repo,
        "_slow_queries",
        repo._SlowQueries(repo.SLOW_QUERY_CAPACITY, repo.SLOW_QUERY_WINDOW, repo.SLOW_QUERY_FLOOR),
    )
