"""The people of the blog tests: two authors and an admin, made through the Accounts context."""

from __future__ import annotations

import pytest

from my_app import accounts
from tests.support.fixtures.accounts import user_fixture


@pytest.fixture
async def ada() -> accounts.User:
    return await user_fixture(name="Ada")


@pytest.fixture
async def bob() -> accounts.User:
    return await user_fixture(name="Bob")


@pytest.fixture
async def admin() -> accounts.User:
    return await user_fixture(role="admin", name="Admin")
