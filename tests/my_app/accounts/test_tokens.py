"""Accounts: session and API tokens, how tokens are stored, expiry, purging and sudo mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from my_app.accounts import user_token
from tests.support.fixtures.accounts import (
    extract_user_token,
    offset_user_token,
    token_hash,
    url_for,
    user_fixture,
)

pytestmark = pytest.mark.usefixtures("db")


async def stored_tokens(db: AsyncConnection, user: accounts.User) -> list[tuple[bytes, str, str | None]]:
    result = await db.execute(
        text("SELECT token, context, sent_to FROM user_tokens WHERE user_id = :id ORDER BY inserted_at, id"),
        {"id": user.id},
    )
    return [(bytes(token), context, sent_to) for token, context, sent_to in result]


class TestSessionTokens:
    async def test_generate_user_session_token_stores_a_session_token(self, db: AsyncConnection) -> None:
        user = await user_fixture()

        token = await accounts.generate_user_session_token(user)

        assert await stored_tokens(db, user) == [(token_hash(token), "session", None)]

    async def test_get_user_by_session_token_returns_the_user_and_when_they_authenticated(self) -> None:
        user = await user_fixture()
        before = datetime.now(UTC)
        token = await accounts.generate_user_session_token(user)

        session = await accounts.get_user_by_session_token(token)

        assert session is not None
        assert session.user.id == user.id
        assert session.authenticated_at is not None
        assert before <= session.authenticated_at <= datetime.now(UTC)

    async def test_generate_user_session_token_keeps_a_given_authenticated_at(self) -> None:
        user = await user_fixture()
        authenticated_at = datetime.now(UTC) - timedelta(days=3)
        token = await accounts.generate_user_session_token(user, authenticated_at=authenticated_at)

        session = await accounts.get_user_by_session_token(token)

        assert session is not None
        assert session.authenticated_at == authenticated_at

    async def test_each_log_in_gets_its_own_token(self) -> None:
        user = await user_fixture()

        first = await accounts.generate_user_session_token(user)
        second = await accounts.generate_user_session_token(user)

        assert first != second
        assert await accounts.get_user_by_session_token(first) is not None
        assert await accounts.get_user_by_session_token(second) is not None

    @pytest.mark.parametrize("token", ["", "oops", "a" * 43, "not/url+safe=", "é" * 43])
    async def test_get_user_by_session_token_returns_none_for_a_bad_token(self, token: str) -> None:
        assert await accounts.get_user_by_session_token(token) is None

    async def test_get_user_by_session_token_returns_none_for_another_context(self) -> None:
        user = await user_fixture()
        api_token = await accounts.create_api_token(user)

        assert await accounts.get_user_by_session_token(api_token) is None

    async def test_get_user_by_session_token_returns_none_once_expired(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        token = await accounts.generate_user_session_token(user)

        await offset_user_token(db, token, -timedelta(days=59, hours=23))
        assert await accounts.get_user_by_session_token(token) is not None

        await offset_user_token(db, token, -timedelta(hours=2))
        assert await accounts.get_user_by_session_token(token) is None

    async def test_delete_user_session_token_logs_that_session_out(self) -> None:
        user = await user_fixture()
        token = await accounts.generate_user_session_token(user)
        other = await accounts.generate_user_session_token(user)

        await accounts.delete_user_session_token(token)

        assert await accounts.get_user_by_session_token(token) is None
        assert await accounts.get_user_by_session_token(other) is not None

    @pytest.mark.parametrize("token", ["", "oops", "a" * 43, "valid-shape"])
    async def test_delete_user_session_token_ignores_an_unknown_token(self, db: AsyncConnection, token: str) -> None:
        user = await user_fixture()
        session_token = await accounts.generate_user_session_token(user)
        api_token = await accounts.create_api_token(user)
        if token == "valid-shape":  # a token we could have made, that was never stored
            token = user_token.build_token(user.id, "session")[0]
        before = await stored_tokens(db, user)

        await accounts.delete_user_session_token(token)

        assert await stored_tokens(db, user) == before
        assert await accounts.get_user_by_session_token(session_token) is not None
        assert await accounts.fetch_user_by_api_token(api_token) is not None


class TestApiTokens:
    async def test_fetch_user_by_api_token_returns_the_user(self) -> None:
        user = await user_fixture()
        token = await accounts.create_api_token(user)

        found = await accounts.fetch_user_by_api_token(token)

        assert found is not None
        assert found.id == user.id

    async def test_fetch_user_by_api_token_refuses_a_session_token(self) -> None:
        user = await user_fixture()
        token = await accounts.generate_user_session_token(user)

        assert await accounts.fetch_user_by_api_token(token) is None

    async def test_fetch_user_by_api_token_returns_none_for_a_bad_token(self) -> None:
        assert await accounts.fetch_user_by_api_token("a" * 43) is None

    async def test_api_tokens_are_valid_for_365_days(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        token = await accounts.create_api_token(user)

        await offset_user_token(db, token, -timedelta(days=364, hours=23))
        assert await accounts.fetch_user_by_api_token(token) is not None

        await offset_user_token(db, token, -timedelta(hours=2))
        assert await accounts.fetch_user_by_api_token(token) is None

    async def test_delete_api_token_revokes_only_that_token(self) -> None:
        user = await user_fixture()
        token = await accounts.create_api_token(user)
        other = await accounts.create_api_token(user)

        await accounts.delete_api_token(token)

        assert await accounts.fetch_user_by_api_token(token) is None
        assert await accounts.fetch_user_by_api_token(other) is not None

    async def test_delete_api_token_leaves_a_session_token_with_the_same_value_alone(self) -> None:
        user = await user_fixture()
        session_token = await accounts.generate_user_session_token(user)

        await accounts.delete_api_token(session_token)

        assert await accounts.get_user_by_session_token(session_token) is not None


class TestCredentials:
    """What a socket token names: a live session or API token, by row id (never the token)."""

    async def test_get_credential_names_the_token_its_user_and_its_socket_topic(self) -> None:
        user = await user_fixture()
        api_token = await accounts.create_api_token(user)

        credential = await accounts.get_credential(api_token, "api")

        assert credential is not None
        assert credential.user.id == user.id
        assert credential.socket_id == accounts.socket_id_for(api_token)
        by_id = await accounts.get_credential_by_id(credential.id)
        assert by_id is not None
        assert (by_id.id, by_id.user.id, by_id.socket_id) == (credential.id, user.id, credential.socket_id)

    async def test_a_token_is_a_credential_only_in_its_own_context(self) -> None:
        user = await user_fixture()
        session_token = await accounts.generate_user_session_token(user)

        assert await accounts.get_credential(session_token, "api") is None
        assert await accounts.get_credential(session_token, "session") is not None
        assert await accounts.get_credential("not a token", "session") is None

    async def test_a_logged_out_credential_is_gone(self) -> None:
        user = await user_fixture()
        session_token, api_token = (
            await accounts.generate_user_session_token(user),
            await accounts.create_api_token(user),
        )
        session_credential = await accounts.get_credential(session_token, "session")
        api_credential = await accounts.get_credential(api_token, "api")
        assert session_credential is not None
        assert api_credential is not None

        await accounts.delete_user_session_token(session_token)

        assert await accounts.get_credential_by_id(session_credential.id) is None
        assert await accounts.get_credential_by_id(api_credential.id) is not None

    async def test_a_password_change_deletes_every_credential(self) -> None:
        user = await user_fixture()
        credentials = [
            await accounts.get_credential(await accounts.generate_user_session_token(user), "session"),
            await accounts.get_credential(await accounts.create_api_token(user), "api"),
        ]

        await accounts.update_user_password(user, {"password": "a brand new passphrase"})

        assert [await accounts.get_credential_by_id(c.id) for c in credentials if c is not None] == [None, None]

    async def test_an_expired_credential_is_gone(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        session_token = await accounts.generate_user_session_token(user)
        credential = await accounts.get_credential(session_token, "session")
        assert credential is not None

        await offset_user_token(db, session_token, -timedelta(days=61))

        assert await accounts.get_credential_by_id(credential.id) is None

    async def test_an_emailed_token_is_no_credential(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        await accounts.deliver_login_instructions(user, url_for("log-in"))
        row_id = (
            await db.execute(
                text("SELECT id FROM user_tokens WHERE user_id = :id AND context = 'login'"), {"id": user.id}
            )
        ).scalar_one()

        assert await accounts.get_credential_by_id(row_id) is None


class TestTokenStorage:
    """Tokens are random and stored only as SHA-256 hashes: a leaked table logs nobody in."""

    async def test_no_raw_token_is_ever_stored(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        handed_out = [
            await accounts.generate_user_session_token(user),
            await accounts.create_api_token(user),
            extract_user_token(await accounts.deliver_user_confirmation_instructions(user, url_for("confirm"))),
            extract_user_token(await accounts.deliver_user_reset_password_instructions(user, url_for("reset"))),
            extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in"))),
            extract_user_token(
                await accounts.deliver_user_update_email_instructions(
                    user, user.email, "new@example.com", url_for("settings/confirm-email")
                )
            ),
        ]

        stored = await stored_tokens(db, user)
        assert len(stored) == len(handed_out)
        assert sorted(row[0] for row in stored) == sorted(token_hash(token) for token in handed_out)
        dump = str((await db.execute(text("SELECT user_tokens::text FROM user_tokens"))).all())
        for token in handed_out:
            raw = user_token.decode_token(token)
            assert raw is not None
            assert len(raw) == user_token.TOKEN_BYTES
            assert token not in dump
            assert raw.hex() not in dump
            # The hash is 32 bytes, not the token itself.
            assert token_hash(token) != raw

    async def test_a_stored_hash_is_not_a_usable_token(self, db: AsyncConnection) -> None:
        import base64

        user = await user_fixture()
        token = await accounts.generate_user_session_token(user)
        leaked = base64.urlsafe_b64encode(token_hash(token)).rstrip(b"=").decode()

        assert await accounts.get_user_by_session_token(leaked) is None


class TestPurgeExpiredTokens:
    async def test_deletes_only_expired_tokens(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        fresh_session = await accounts.generate_user_session_token(user)
        old_session = await accounts.generate_user_session_token(user)
        fresh_api = await accounts.create_api_token(user)
        old_api = await accounts.create_api_token(user)
        fresh_link = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))
        old_link = extract_user_token(await accounts.deliver_login_instructions(user, url_for("log-in")))
        old_change = extract_user_token(
            await accounts.deliver_user_update_email_instructions(user, user.email, "x@example.com", url_for("c"))
        )
        fresh_change = extract_user_token(
            await accounts.deliver_user_update_email_instructions(user, user.email, "y@example.com", url_for("c"))
        )
        await offset_user_token(db, old_session, -timedelta(days=61))
        await offset_user_token(db, fresh_api, -timedelta(days=61))  # still valid: API tokens last a year
        await offset_user_token(db, old_api, -timedelta(days=366))
        await offset_user_token(db, old_link, -timedelta(minutes=16))
        await offset_user_token(db, old_change, -timedelta(days=8))

        purged = await accounts.purge_expired_tokens()

        assert purged >= 4
        remaining = {row[0] for row in await stored_tokens(db, user)}
        assert remaining == {token_hash(t) for t in (fresh_session, fresh_api, fresh_link, fresh_change)}

    async def test_purges_nothing_when_nothing_expired(self) -> None:
        user = await user_fixture()
        token = await accounts.generate_user_session_token(user)
        await accounts.purge_expired_tokens()

        assert await accounts.purge_expired_tokens() == 0
        assert await accounts.get_user_by_session_token(token) is not None


class TestSudoMode:
    def test_is_true_within_20_minutes_of_authenticating(self) -> None:
        now = datetime.now(UTC)

        assert accounts.sudo_mode(now, now=now)
        assert accounts.sudo_mode(now - timedelta(minutes=19, seconds=59), now=now)
        assert accounts.sudo_mode(now - accounts.SUDO_MODE_WINDOW, now=now)

    def test_is_false_after_20_minutes(self) -> None:
        now = datetime.now(UTC)

        assert not accounts.sudo_mode(now - timedelta(minutes=20, seconds=1), now=now)
        assert not accounts.sudo_mode(now - timedelta(days=1), now=now)

    def test_is_false_without_an_authentication_time(self) -> None:
        assert not accounts.sudo_mode(None)

    async def test_follows_the_session_token(self, db: AsyncConnection) -> None:
        user = await user_fixture()
        fresh = await accounts.generate_user_session_token(user)
        stale = await accounts.generate_user_session_token(user)
        await offset_user_token(db, stale, -timedelta(minutes=21))

        fresh_session = await accounts.get_user_by_session_token(fresh)
        stale_session = await accounts.get_user_by_session_token(stale)

        assert fresh_session is not None
        assert stale_session is not None
        assert accounts.sudo_mode(fresh_session.authenticated_at)
        assert not accounts.sudo_mode(stale_session.authenticated_at)
