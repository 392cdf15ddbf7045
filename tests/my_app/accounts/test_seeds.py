"""The dev seeds: an admin and demo users, through the context, once; never in prod."""

from __future__ import annotations

import pytest

from my_app import accounts, chat
from my_app.accounts import Identity, Role
from my_app.config import Settings
from my_app.priv import seeds
from tests.support.fixtures.accounts import SYSTEM, extract_user_token, url_for

pytestmark = pytest.mark.usefixtures("db")


async def test_seeds_create_the_admin_and_the_demo_users_once(settings: Settings) -> None:
    first = await seeds.run(settings)
    second = await seeds.run(settings)

    assert second == []
    admin_email, _ = seeds.DEMO_ADMIN
    assert f"admin {admin_email} (password: {seeds.DEMO_PASSWORD!r})" in first
    assert len(first) == (
        1 + len(seeds.DEMO_USERS) + len(seeds.DEMO_ROOMS) + len(seeds.DEMO_CATEGORIES) + len(seeds.DEMO_POSTS)
    )
    emails = [user.email for user in await accounts.list_users(SYSTEM)]
    for email in [admin_email, *(email for email, _ in seeds.DEMO_USERS)]:
        assert emails.count(email) == 1


async def test_seeded_rooms_admit_their_members_and_admins_only(settings: Settings) -> None:
    await seeds.run(settings)
    alice = await accounts.get_user_by_email("alice@example.com")
    admin = await accounts.get_user_by_email(seeds.DEMO_ADMIN[0])
    assert alice is not None
    assert admin is not None

    assert await chat.can_join(Identity.of(alice), "general")
    assert not await chat.can_join(Identity.of(alice), "secret")
    assert await chat.can_join(Identity.of(admin), "secret")


async def test_the_seeded_admin_is_an_admin_who_can_log_in(settings: Settings) -> None:
    await seeds.run(settings)
    admin_email, _ = seeds.DEMO_ADMIN

    admin = await accounts.get_user_by_email_and_password(admin_email, seeds.DEMO_PASSWORD)

    assert admin is not None
    assert admin.role is Role.ADMIN


async def test_seeded_demo_users_are_plain_users(settings: Settings) -> None:
    await seeds.run(settings)

    for email, _ in seeds.DEMO_USERS:
        user = await accounts.get_user_by_email_and_password(email, seeds.DEMO_PASSWORD)
        assert user is not None
        assert user.role is Role.USER


async def test_seeded_accounts_are_confirmed_so_magic_links_work(settings: Settings) -> None:
    await seeds.run(settings)

    for email in [seeds.DEMO_ADMIN[0], *(email for email, _ in seeds.DEMO_USERS)]:
        user = await accounts.get_user_by_email(email)
        assert user is not None
        assert user.confirmed_at is not None
        email_sent = await accounts.deliver_login_instructions(user, url_for("log-in"))
        assert await accounts.login_user_by_magic_link(extract_user_token(email_sent)) is not None


async def test_seeds_refuse_to_run_in_prod(settings: Settings) -> None:
    prod = settings.model_copy(update={"env": "prod"})
    before = len(await accounts.list_users(SYSTEM))

    with pytest.raises(PermissionError, match="never run in prod"):
        await seeds.run(prod)

    assert len(await accounts.list_users(SYSTEM)) == before
