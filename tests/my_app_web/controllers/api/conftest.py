"""Fixtures of the JSON API tests: a user, an admin, their bearer headers, and fresh rate limits."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from tests.support.fixtures.api import api_user, auth_for


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
