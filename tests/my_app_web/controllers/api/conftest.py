"""Fixtures of the JSON API tests: a user, an admin, their bearer headers, and fresh rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from tests.support.fixtures.api import api_user, auth_for, reset_rate_limits


@pytest.fixture(autouse=True)
async def _fresh_rate_limits(web_app: FastAPI) -> AsyncIterator[None]:
    # The limiter's memory is process-wide and every test client has the same address:
    # without this, failed log-ins of one test would lock out the next.
    await reset_rate_limits(web_app)
    yield
    await reset_rate_limits(web_app)


@pytest.fixture
async def user(db: AsyncConnection) -> accounts.User:
    return await api_user()


@pytest.fixture
async def admin(db: AsyncConnection) -> accounts.User:
    return await api_user(role="admin", name="Admin")


@pytest.fixture
async def user_auth(user: accounts.User) -> dict[str, str]:
    return await auth_for(user)


@pytest.fixture
async def admin_auth(admin: accounts.User) -> dict[str, str]:
    return await auth_for(admin)
