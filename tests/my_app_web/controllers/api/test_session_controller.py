"""API sessions: log in for a bearer token, log out, magic links, and the brute-force limits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from my_app.config import Settings
from my_app_web.endpoint import create_app
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.api import (
    BAD_REQUEST,
    PASSWORD,
    TOO_MANY,
    UNAUTHORIZED,
    age_token,
    api_token_for,
    api_user,
    assert_user_json,
    auth_header,
    client_from,
    committed_api_user,
    confirmed,
    link_to,
    token_from,
    unique_email,
)
from tests.support.services import redis_url

LOGIN_LIMIT = 5  # RATE_LIMIT_LOGIN: failed log-ins per email and per IP address in 5 minutes
PARALLEL = 20  # requests sent at once, all in flight before the first password check ends


@pytest.fixture(params=["memory", "redis"])
async def limited_app(
    request: pytest.FixtureRequest, web_app: FastAPI, settings: Settings, started_app: object
) -> AsyncIterator[FastAPI]:
    """The app, counting in memory (the test app's own limiter) or in Redis (an app of its own).

    No sandbox: parallel requests need a connection each, so these tests commit (`committed_api_user`).
    """
    if request.param == "memory":
        yield web_app
        return
    app = create_app(settings.model_copy(update={"redis_url": redis_url()}), start_application=False)
    try:
        yield app
    finally:
        await app.state.limiter.close()


def unique_ip() -> str:
    """An address of its own for the test: counts in Redis outlive it (and are shared with other runs)."""
    number = uuid.uuid4().int
    return f"10.{number % 250}.{(number >> 8) % 250}.{(number >> 16) % 250 + 1}"


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    """How many responses had each status."""
    counted: dict[int, int] = {}
    for response in responses:
        counted[response.status_code] = counted.get(response.status_code, 0) + 1
    return counted


def credentials(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password}


def assert_too_many(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == TOO_MANY
    assert 1 <= int(response.headers["retry-after"]) <= 300


# --- POST /api/sessions ---


class TestCreate:
    async def test_trades_email_and_password_for_a_token(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        response = await client.post("/api/sessions", json=credentials(user.email))

        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"data"}
        assert set(body["data"]) == {"token", "user"}
        assert_user_json(body["data"]["user"], user)
        me = await client.get("/api/users/me", headers=auth_header(body["data"]["token"]))
        assert me.status_code == 200
        assert me.json()["data"]["id"] == str(user.id)

    async def test_the_email_is_case_insensitive(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        response = await client.post("/api/sessions", json=credentials(user.email.upper()))

        assert response.status_code == 201

    async def test_unconfirmed_users_may_log_in(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        assert user.confirmed_at is None

        response = await client.post("/api/sessions", json=credentials(user.email))

        assert response.status_code == 201
        assert response.json()["data"]["user"]["confirmed_at"] is None

    async def test_each_log_in_gets_its_own_token(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        first = await client.post("/api/sessions", json=credentials(user.email))
        second = await client.post("/api/sessions", json=credentials(user.email))

        assert first.json()["data"]["token"] != second.json()["data"]["token"]

    async def test_a_wrong_password_and_an_unknown_email_get_the_same_401(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        wrong = await client.post("/api/sessions", json=credentials(user.email, "not the password"))
        unknown = await client.post("/api/sessions", json=credentials(unique_email(), "not the password"))

        assert wrong.status_code == unknown.status_code == 401
        assert wrong.content == unknown.content
        assert wrong.json() == UNAUTHORIZED

        def headers(response: httpx.Response) -> dict[str, str]:
            return {key: value for key, value in response.headers.items() if key != "x-request-id"}

        assert headers(wrong) == headers(unknown)

    async def test_a_user_without_a_password_cannot_log_in(
        self, client: httpx.AsyncClient, db: AsyncConnection
    ) -> None:
        passwordless = await accounts.admin_create_user(SYSTEM, {"email": unique_email(), "name": "No Password"})

        for password in ("", PASSWORD):
            response = await client.post("/api/sessions", json=credentials(passwordless.email, password))
            assert response.status_code == 401

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"email": "ada@example.com"},
            {"password": PASSWORD},
            {"email": None, "password": PASSWORD},
            {"email": 1, "password": 2},
            {"session": {"email": "ada@example.com", "password": PASSWORD}},
            [],
            "ada@example.com",
        ],
    )
    async def test_a_body_of_the_wrong_shape_is_400(
        self, client: httpx.AsyncClient, db: AsyncConnection, body: Any
    ) -> None:
        response = await client.post("/api/sessions", json=body)

        assert response.status_code == 400
        assert response.json() == BAD_REQUEST

    async def test_malformed_json_is_400(self, client: httpx.AsyncClient, db: AsyncConnection) -> None:
        response = await client.post(
            "/api/sessions", content=b'{"email": ', headers={"content-type": "application/json"}
        )

        assert response.status_code == 400
        assert response.json() == BAD_REQUEST

    async def test_text_the_database_cannot_store_is_400_not_a_crash(
        self, client: httpx.AsyncClient, db: AsyncConnection
    ) -> None:
        nul = await client.post("/api/sessions", json=credentials("a\u0000b@example.com"))
        surrogate = await client.post(
            "/api/sessions",
            content=b'{"email": "ada@example.com", "password": "\\udfff"}',
            headers={"content-type": "application/json"},
        )

        assert nul.status_code == surrogate.status_code == 400
        assert nul.json() == surrogate.json() == BAD_REQUEST


class TestBruteForceProtection:
    async def test_the_sixth_failed_log_in_for_an_email_is_refused_with_retry_after(
        self, web_app: FastAPI, db: AsyncConnection, user: accounts.User
    ) -> None:
        # Each attempt from another address: only the per-email limit can refuse.
        for attempt in range(LOGIN_LIMIT):
            async with client_from(web_app, f"10.0.1.{attempt}") as client:
                response = await client.post("/api/sessions", json=credentials(user.email, "wrong password"))
                assert response.status_code == 401

        async with client_from(web_app, "10.0.1.100") as client:
            refused = await client.post("/api/sessions", json=credentials(user.email.upper(), "wrong password"))
            right_password = await client.post("/api/sessions", json=credentials(user.email))
            other_user = await api_user()
            other = await client.post("/api/sessions", json=credentials(other_user.email))

        assert_too_many(refused)
        assert_too_many(right_password)  # locked, whatever the password
        assert other.status_code == 201

    async def test_the_sixth_failed_log_in_from_an_address_is_refused(
        self, web_app: FastAPI, db: AsyncConnection, user: accounts.User
    ) -> None:
        async with client_from(web_app, "10.0.2.1") as client:
            for _ in range(LOGIN_LIMIT):
                response = await client.post("/api/sessions", json=credentials(unique_email(), "wrong password"))
                assert response.status_code == 401
            refused = await client.post("/api/sessions", json=credentials(user.email))

        async with client_from(web_app, "10.0.2.2") as elsewhere:
            allowed = await elsewhere.post("/api/sessions", json=credentials(user.email))

        assert_too_many(refused)
        assert allowed.status_code == 201

    async def test_parallel_wrong_passwords_for_one_email_are_refused_past_the_limit(
        self, limited_app: FastAPI
    ) -> None:
        # Each from another address: only the per-email count can refuse. All are in flight at
        # once, so a count taken after the password check would refuse none of them.
        async with committed_api_user() as user:
            await self._guess_in_parallel(limited_app, user)

    async def _guess_in_parallel(self, limited_app: FastAPI, user: accounts.User) -> None:
        async def attempt() -> httpx.Response:
            async with client_from(limited_app, unique_ip()) as client:
                return await client.post("/api/sessions", json=credentials(user.email, "wrong password"))

        responses = await asyncio.gather(*(attempt() for _ in range(PARALLEL)))

        assert statuses(responses) == {401: LOGIN_LIMIT, 429: PARALLEL - LOGIN_LIMIT}
        for response in responses:
            if response.status_code == 429:
                assert_too_many(response)
        async with client_from(limited_app, unique_ip()) as client:
            assert_too_many(await client.post("/api/sessions", json=credentials(user.email)))

    async def test_parallel_guesses_from_one_address_are_refused_past_the_limit(self, limited_app: FastAPI) -> None:
        async with client_from(limited_app, unique_ip()) as client:
            responses = await asyncio.gather(
                *(client.post("/api/sessions", json=credentials(unique_email(), "wrong")) for _ in range(PARALLEL))
            )

        assert statuses(responses) == {401: LOGIN_LIMIT, 429: PARALLEL - LOGIN_LIMIT}

    async def test_successful_log_ins_do_not_count(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        for _ in range(LOGIN_LIMIT * 2):
            response = await client.post("/api/sessions", json=credentials(user.email))
            assert response.status_code == 201

    async def test_a_right_password_takes_back_only_its_own_attempt(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        for _ in range(LOGIN_LIMIT - 1):
            assert (await client.post("/api/sessions", json=credentials(user.email, "wrong"))).status_code == 401
        assert (await client.post("/api/sessions", json=credentials(user.email))).status_code == 201

        # The failures still count: one more is allowed, then the account is locked.
        assert (await client.post("/api/sessions", json=credentials(user.email, "wrong"))).status_code == 401
        assert_too_many(await client.post("/api/sessions", json=credentials(user.email)))

    async def test_bad_requests_do_not_count(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        for _ in range(LOGIN_LIMIT * 2):
            assert (await client.post("/api/sessions", json={"email": user.email})).status_code == 400

        assert (await client.post("/api/sessions", json=credentials(user.email))).status_code == 201


class TestCurrentPasswordChecks:
    """`PUT /api/users/me/password` and `POST /api/users/me/email` check the current password: a
    stolen bearer token must buy no more guesses than the log-in form, so they share its counts."""

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("put", "/api/users/me/password", {"password": "another long passphrase"}),
            ("post", "/api/users/me/email", {"email": "new-address@example.com"}),
        ],
        ids=["password", "email"],
    )
    async def test_parallel_wrong_current_passwords_are_refused_past_the_limit(
        self, limited_app: FastAPI, method: str, path: str, body: dict[str, str]
    ) -> None:
        async with committed_api_user() as user:
            await self._guess_in_parallel(limited_app, user, method, path, body)

    async def _guess_in_parallel(
        self, limited_app: FastAPI, user: accounts.User, method: str, path: str, body: dict[str, str]
    ) -> None:
        headers = auth_header(await api_token_for(user))
        guess = {**body, "current_password": "wrong guess"}

        async def attempt() -> httpx.Response:
            async with client_from(limited_app, unique_ip()) as client:
                return await client.request(method, path, json=guess, headers=headers)

        responses = await asyncio.gather(*(attempt() for _ in range(PARALLEL)))

        assert statuses(responses) == {401: LOGIN_LIMIT, 429: PARALLEL - LOGIN_LIMIT}
        # The account is locked for log-ins too, whatever the password.
        async with client_from(limited_app, unique_ip()) as client:
            assert_too_many(await client.post("/api/sessions", json=credentials(user.email)))
            right = {**body, "current_password": PASSWORD}
            assert_too_many(await client.request(method, path, json=right, headers=headers))

    async def test_failed_log_ins_from_an_address_leave_it_no_guesses_at_the_current_password(
        self, web_app: FastAPI, db: AsyncConnection, user: accounts.User
    ) -> None:
        headers = auth_header(await api_token_for(user))
        async with client_from(web_app, "10.0.4.1") as client:
            for _ in range(LOGIN_LIMIT):
                response = await client.post("/api/sessions", json=credentials(unique_email(), "wrong"))
                assert response.status_code == 401
            refused = await client.put(
                "/api/users/me/password",
                json={"current_password": "a guess", "password": "another long passphrase"},
                headers=headers,
            )

        assert_too_many(refused)

    async def test_the_right_current_password_does_not_count(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        for number in range(LOGIN_LIMIT * 2):
            response = await client.post(
                "/api/users/me/email",
                json={"current_password": PASSWORD, "email": f"new{number}@example.com"},
                headers=auth_header(await api_token_for(user)),
            )
            assert response.status_code == 202, response.text


# --- DELETE /api/sessions ---


class TestDelete:
    async def test_revokes_the_presented_token(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        token = await api_token_for(user)
        other_token = await api_token_for(user)

        response = await client.delete("/api/sessions", headers=auth_header(token))

        assert response.status_code == 204
        assert response.content == b""
        me = await client.get("/api/users/me", headers=auth_header(token))
        assert me.status_code == 401
        assert me.json() == UNAUTHORIZED
        again = await client.delete("/api/sessions", headers=auth_header(token))
        assert again.status_code == 401
        # Only the presented token: the user's other sessions stay.
        assert (await client.get("/api/users/me", headers=auth_header(other_token))).status_code == 200

    @pytest.mark.parametrize(
        "headers",
        [{}, {"authorization": "Bearer nope"}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": ""}],
    )
    async def test_without_a_valid_token_is_401(
        self, client: httpx.AsyncClient, db: AsyncConnection, headers: dict[str, str]
    ) -> None:
        response = await client.delete("/api/sessions", headers=headers)

        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_a_session_token_cannot_be_revoked_as_an_api_token(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        session_token = await accounts.generate_user_session_token(user)

        response = await client.delete("/api/sessions", headers=auth_header(session_token))

        assert response.status_code == 401
        assert await accounts.get_user_by_session_token(session_token) is not None

    async def test_an_expired_token_is_401(
        self, client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User
    ) -> None:
        token = await api_token_for(user)
        await age_token(db, token, timedelta(days=366))

        assert (await client.get("/api/users/me", headers=auth_header(token))).status_code == 401
        assert (await client.delete("/api/sessions", headers=auth_header(token))).status_code == 401


# --- POST /api/sessions/magic-link/{token} ---


class TestMagicLink:
    async def test_logs_a_confirmed_user_in_once(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        user = await confirmed(user)
        token = token_from(await accounts.deliver_login_instructions(user, link_to("log-in")))

        response = await client.post(f"/api/sessions/magic-link/{token}")

        assert response.status_code == 201, response.text
        data = response.json()["data"]
        assert set(data) == {"token", "user"}
        assert_user_json(data["user"], user)
        assert (await client.get("/api/users/me", headers=auth_header(data["token"]))).status_code == 200

        reused = await client.post(f"/api/sessions/magic-link/{token}")
        assert reused.status_code == 401
        assert reused.json() == UNAUTHORIZED

    async def test_confirms_an_unconfirmed_user_without_a_password(
        self, client: httpx.AsyncClient, db: AsyncConnection
    ) -> None:
        passwordless = await accounts.admin_create_user(SYSTEM, {"email": unique_email(), "name": "No Password"})
        token = token_from(await accounts.deliver_login_instructions(passwordless, link_to("log-in")))

        response = await client.post(f"/api/sessions/magic-link/{token}")

        assert response.status_code == 201, response.text
        assert response.json()["data"]["user"]["confirmed_at"] is not None

    async def test_refuses_an_unconfirmed_user_with_a_password(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        # Someone may have registered the address before its owner: the owner's click must not log in.
        token = token_from(await accounts.deliver_login_instructions(user, link_to("log-in")))

        response = await client.post(f"/api/sessions/magic-link/{token}")

        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.confirmed_at is None

    async def test_an_expired_link_is_401(
        self, client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User
    ) -> None:
        user = await confirmed(user)
        token = token_from(await accounts.deliver_login_instructions(user, link_to("log-in")))
        await age_token(db, token, timedelta(minutes=16))

        response = await client.post(f"/api/sessions/magic-link/{token}")

        assert response.status_code == 401

    async def test_a_link_sent_before_an_email_change_is_401(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        user = await confirmed(user)
        token = token_from(await accounts.deliver_login_instructions(user, link_to("log-in")))
        await accounts.update_user(SYSTEM, user, {"email": unique_email()})

        response = await client.post(f"/api/sessions/magic-link/{token}")

        assert response.status_code == 401

    @pytest.mark.parametrize("token", ["nope", "A" * 43, "%00", "é", "-" * 500])
    async def test_a_bad_token_is_401(self, client: httpx.AsyncClient, db: AsyncConnection, token: str) -> None:
        response = await client.post(f"/api/sessions/magic-link/{token}")

        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED

    async def test_other_tokens_are_no_magic_links(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        user = await confirmed(user)
        reset = token_from(await accounts.deliver_user_reset_password_instructions(user, link_to("reset-password")))
        session = await accounts.generate_user_session_token(user)
        api = await api_token_for(user)

        for token in (reset, session, api):
            assert (await client.post(f"/api/sessions/magic-link/{token}")).status_code == 401
