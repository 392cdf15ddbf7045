"""Every web test (controllers, API, live pages) starts with fresh rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.support.fixtures.api import reset_rate_limits


@pytest.fixture(autouse=True)
async def _fresh_rate_limits(web_app: FastAPI) -> AsyncIterator[None]:
    # The limiter's memory is process-wide and every test client has the same address:
    # without this, one test's failed log-ins would lock the next test out.
    await reset_rate_limits(web_app)
    yield
    await reset_rate_limits(web_app)
