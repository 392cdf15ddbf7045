"""Test-run set-up: the test database, then the DataCase and ConnCase fixtures."""

from __future__ import annotations

import os

import pytest

os.environ["MYAPP_ENV"] = "test"

pytest_plugins = [
    # Redis tests skip without Redis, and fail without it when CI=true. First: the other plugins
    # import it, and pytest rewrites a plugin's asserts only if it is not imported yet.
    "tests.support.services",
    "tests.support.data_case",
    "tests.support.conn_case",
    "tests.support.channel_case",
    # Runs a pytest session inside a test (tests/support/test_services.py).
    "pytester",
]


def pytest_configure(config: pytest.Config) -> None:
    from tests.support.databases import prepare_test_database

    prepare_test_database()


def pytest_unconfigure(config: pytest.Config) -> None:
    import logging

    from tests.support.databases import finish_test_database

    finish_test_database()

    # Handlers were bound to pytest's captured streams, which are closed by now; atexit hooks
    # (the embedded server's release) must not log into them.
    logging.getLogger().handlers.clear()
