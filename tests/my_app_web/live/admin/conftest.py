"""The admin catalog page tests' fixture: a logged-in admin."""

from __future__ import annotations

import httpx
import pytest

from my_app import accounts
from tests.support.browser_forms import log_in
from tests.support.fixtures.accounts import user_fixture


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> accounts.User:
    """An admin, logged in with `client`."""
    user = await user_fixture(role="admin", name="Ada Admin")
    assert (await log_in(client, user.email)).status_code == 303
    return user
