"""The emailed flows of the API (confirmation, password reset, email change, magic links), and the
whole journey over a real SMTP server: register, confirm, log in, change and reset the password."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts, application, mailer, repo
from my_app.config import Settings
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.api import (
    ACCEPTED,
    BAD_REQUEST,
    NEW_PASSWORD,
    NOT_FOUND,
    PASSWORD,
    UNAUTHORIZED,
    age_token,
    api_user,
    assert_user_json,
    auth_for,
    auth_header,
    client_from,
    email_jobs,
    email_types,
    link_to,
    token_from,
    unique_email,
)
from tests.support.jobs import run_worker, truncate
from tests.support.smtp import FreePortController, Inbox

REQUEST_LIMIT = 5  # RATE_LIMIT_EMAIL_REQUESTS: per email and per IP address in 5 minutes


def assert_too_many(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {"errors": {"detail": "Too Many Requests"}}
    assert 1 <= int(response.headers["retry-after"]) <= 300


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/sessions", json={"email": email, "password": password})


async def stored_email(user: accounts.User) -> str:
    found = await accounts.get_user(SYSTEM, user.id)
    assert found is not None
    return found.email


# --- Requests that answer 202 whatever the email: confirmation, password reset, log-in link ---

EMAIL_REQUESTS = [
    ("/api/users/confirm", "confirmation"),
    ("/api/users/reset-password", "reset_password"),
    ("/api/users/log-in-link", "magic_link"),
]


@pytest.mark.parametrize(("path", "email_type"), EMAIL_REQUESTS)
class TestEmailRequests:
    async def test_known_and_unknown_emails_get_the_same_202(
        self, client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User, path: str, email_type: str
    ) -> None:
        known = await client.post(path, json={"email": user.email.upper()})
        unknown = await client.post(path, json={"email": unique_email()})

        assert known.status_code == unknown.status_code == 202
        assert known.content == unknown.content
        assert known.json() == ACCEPTED
        assert await email_types(db, user.id) == [email_type]
        jobs = await db.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'email:deliver_email'"))
        assert jobs.scalar_one() == 1

    async def test_a_second_request_within_a_minute_sends_nothing_more(
        self, client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User, path: str, email_type: str
    ) -> None:
        for _ in range(2):
            assert (await client.post(path, json={"email": user.email})).status_code == 202

        assert await email_types(db, user.id) == [email_type]

    async def test_the_sixth_request_for_an_email_is_429(
        self, web_app: FastAPI, db: AsyncConnection, user: accounts.User, path: str, email_type: str
    ) -> None:
        for attempt in range(REQUEST_LIMIT):
            async with client_from(web_app, f"10.1.0.{attempt}") as client:
                assert (await client.post(path, json={"email": user.email})).status_code == 202

        async with client_from(web_app, "10.1.0.100") as client:
            refused = await client.post(path, json={"email": user.email.upper()})
            other = await client.post(path, json={"email": unique_email()})

        assert_too_many(refused)
        assert other.status_code == 202

    async def test_the_sixth_request_from_an_address_is_429(
        self, web_app: FastAPI, db: AsyncConnection, path: str, email_type: str
    ) -> None:
        async with client_from(web_app, "10.1.1.1") as client:
            for _ in range(REQUEST_LIMIT):
                assert (await client.post(path, json={"email": unique_email()})).status_code == 202
            refused = await client.post(path, json={"email": unique_email()})

        assert_too_many(refused)

    @pytest.mark.parametrize("body", [{}, {"email": None}, {"email": ["a@b.c"]}, {"user": {"email": "a@b.c"}}, []])
    async def test_a_body_of_the_wrong_shape_is_400(
        self, client: httpx.AsyncClient, db: AsyncConnection, path: str, email_type: str, body: Any
    ) -> None:
        response = await client.post(path, json=body)

        assert response.status_code == 400
        assert response.json() == BAD_REQUEST


async def test_confirmation_is_not_sent_again_to_a_confirmed_user(
    client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User
) -> None:
    token = token_from(await accounts.deliver_user_confirmation_instructions(user, link_to("confirm")))
    assert await accounts.confirm_user(token) is not None

    response = await client.post("/api/users/confirm", json={"email": user.email})

    assert response.status_code == 202
    assert response.json() == ACCEPTED
    assert await email_types(db, user.id) == []


# --- POST /api/users/confirm/{token} ---


class TestConfirm:
    async def test_confirms_once(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        token = token_from(await accounts.deliver_user_confirmation_instructions(user, link_to("confirm")))

        response = await client.post(f"/api/users/confirm/{token}")

        assert response.status_code == 200, response.text
        assert_user_json(response.json()["data"], user)
        assert response.json()["data"]["confirmed_at"] is not None
        confirmed = await accounts.get_user(SYSTEM, user.id)
        assert confirmed is not None
        assert confirmed.confirmed_at is not None

        reused = await client.post(f"/api/users/confirm/{token}")
        assert reused.status_code == 404
        assert reused.json() == NOT_FOUND

    async def test_an_expired_token_is_404(
        self, client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User
    ) -> None:
        token = token_from(await accounts.deliver_user_confirmation_instructions(user, link_to("confirm")))
        await age_token(db, token, timedelta(days=8))

        response = await client.post(f"/api/users/confirm/{token}")

        assert response.status_code == 404
        stored = await accounts.get_user(SYSTEM, user.id)
        assert stored is not None
        assert stored.confirmed_at is None

    @pytest.mark.parametrize("token", ["nope", "A" * 43, "%00", "é"])
    async def test_a_bad_token_is_404(self, client: httpx.AsyncClient, db: AsyncConnection, token: str) -> None:
        response = await client.post(f"/api/users/confirm/{token}")

        assert response.status_code == 404
        assert response.json() == NOT_FOUND


# --- PUT /api/users/reset-password/{token} ---


class TestResetPassword:
    async def reset_token(self, user: accounts.User) -> str:
        return token_from(await accounts.deliver_user_reset_password_instructions(user, link_to("reset-password")))

    async def test_sets_the_new_password_and_logs_every_session_out(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        old_headers = await auth_for(user)
        session_token = await accounts.generate_user_session_token(user)
        token = await self.reset_token(user)

        response = await client.put(f"/api/users/reset-password/{token}", json={"password": NEW_PASSWORD})

        assert response.status_code == 200, response.text
        assert_user_json(response.json()["data"], user)
        assert (await client.get("/api/users/me", headers=old_headers)).status_code == 401
        assert await accounts.get_user_by_session_token(session_token) is None
        assert (await log_in(client, user.email, PASSWORD)).status_code == 401
        assert (await log_in(client, user.email, NEW_PASSWORD)).status_code == 201
        reused = await client.put(f"/api/users/reset-password/{token}", json={"password": "yet another passphrase"})
        assert reused.status_code == 404
        assert reused.json() == NOT_FOUND

    async def test_an_expired_token_is_404(
        self, client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User
    ) -> None:
        token = await self.reset_token(user)
        await age_token(db, token, timedelta(days=1, minutes=1))

        response = await client.put(f"/api/users/reset-password/{token}", json={"password": NEW_PASSWORD})

        assert response.status_code == 404
        assert response.json() == NOT_FOUND
        assert (await log_in(client, user.email, PASSWORD)).status_code == 201

    @pytest.mark.parametrize("token", ["nope", "A" * 43, "%00"])
    async def test_a_bad_token_is_404(self, client: httpx.AsyncClient, db: AsyncConnection, token: str) -> None:
        response = await client.put(f"/api/users/reset-password/{token}", json={"password": NEW_PASSWORD})

        assert response.status_code == 404
        assert response.json() == NOT_FOUND

    async def test_another_kind_of_token_is_404(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        token = token_from(await accounts.deliver_login_instructions(user, link_to("log-in")))

        response = await client.put(f"/api/users/reset-password/{token}", json={"password": NEW_PASSWORD})

        assert response.status_code == 404

    async def test_a_short_password_is_422_and_the_token_still_works(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        token = await self.reset_token(user)
        old_headers = await auth_for(user)

        response = await client.put(f"/api/users/reset-password/{token}", json={"password": "short"})

        assert response.status_code == 422
        assert response.json() == {"errors": {"password": ["should be at least 12 character(s)"]}}
        assert (await client.get("/api/users/me", headers=old_headers)).status_code == 200
        retried = await client.put(f"/api/users/reset-password/{token}", json={"password": NEW_PASSWORD})
        assert retried.status_code == 200

    @pytest.mark.parametrize("body", [{}, {"password": None}, {"password": 123456789012}, {"user": {"password": "x"}}])
    async def test_a_body_of_the_wrong_shape_is_400(
        self, client: httpx.AsyncClient, user: accounts.User, body: Any
    ) -> None:
        token = await self.reset_token(user)

        response = await client.put(f"/api/users/reset-password/{token}", json=body)

        assert response.status_code == 400
        assert response.json() == BAD_REQUEST


# --- PUT /api/users/me/password ---


class TestChangePassword:
    async def test_returns_a_new_token_and_revokes_the_old_ones(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        other_headers = await auth_for(user)

        response = await client.put(
            "/api/users/me/password",
            json={"current_password": PASSWORD, "password": NEW_PASSWORD},
            headers=user_auth,
        )

        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert_user_json(data["user"], user)
        assert (await client.get("/api/users/me", headers=auth_header(data["token"]))).status_code == 200
        for old in (user_auth, other_headers):
            me = await client.get("/api/users/me", headers=old)
            assert me.status_code == 401
            assert me.json() == UNAUTHORIZED
        assert (await log_in(client, user.email, PASSWORD)).status_code == 401
        assert (await log_in(client, user.email, NEW_PASSWORD)).status_code == 201

    async def test_a_wrong_current_password_is_401_and_changes_nothing(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        response = await client.put(
            "/api/users/me/password",
            json={"current_password": "not my password", "password": NEW_PASSWORD},
            headers=user_auth,
        )

        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert (await client.get("/api/users/me", headers=user_auth)).status_code == 200
        assert (await log_in(client, user.email, PASSWORD)).status_code == 201

    async def test_an_invalid_new_password_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        response = await client.put(
            "/api/users/me/password", json={"current_password": PASSWORD, "password": "short"}, headers=user_auth
        )

        assert response.status_code == 422
        assert response.json() == {"errors": {"password": ["should be at least 12 character(s)"]}}
        assert (await client.get("/api/users/me", headers=user_auth)).status_code == 200

    async def test_needs_a_token(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        response = await client.put(
            "/api/users/me/password", json={"current_password": PASSWORD, "password": NEW_PASSWORD}
        )

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize("body", [{}, {"password": NEW_PASSWORD}, {"user": {"password": NEW_PASSWORD}}])
    async def test_a_body_of_the_wrong_shape_is_400(
        self, client: httpx.AsyncClient, user_auth: dict[str, str], body: Any
    ) -> None:
        response = await client.put("/api/users/me/password", json=body, headers=user_auth)

        assert response.status_code == 400
        assert response.json() == BAD_REQUEST


# --- POST /api/users/me/email and PUT /api/users/me/email/{token} ---


class TestChangeEmail:
    async def test_sends_a_link_to_the_new_address_and_the_link_switches(
        self, client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        new_email = unique_email("new")

        requested = await client.post(
            "/api/users/me/email", json={"current_password": PASSWORD, "email": new_email}, headers=user_auth
        )

        assert requested.status_code == 202, requested.text
        assert requested.json() == ACCEPTED
        jobs = await email_jobs(db, user.id)
        assert [(job["type"], job["new_email"]) for job in jobs] == [("update_email", new_email)]
        assert await stored_email(user) == user.email

        email = await accounts.deliver_user_update_email_instructions(
            user, user.email, new_email, link_to("settings/confirm-email")
        )
        assert email.to == (new_email,)
        token = token_from(email)

        switched = await client.put(f"/api/users/me/email/{token}", headers=user_auth)
        assert switched.status_code == 200, switched.text
        assert switched.json()["data"]["email"] == new_email
        assert switched.json()["data"]["confirmed_at"] is not None
        assert (await log_in(client, new_email, PASSWORD)).status_code == 201

        reused = await client.put(f"/api/users/me/email/{token}", headers=user_auth)
        assert reused.status_code == 404
        assert reused.json() == NOT_FOUND

    async def test_a_wrong_current_password_is_401(
        self, client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        response = await client.post(
            "/api/users/me/email", json={"current_password": "wrong", "email": unique_email()}, headers=user_auth
        )

        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert await email_jobs(db, user.id) == []

    @pytest.mark.parametrize(
        ("email", "errors"),
        [
            ("not an email", {"email": ["must be a valid email"]}),
            ("", {"email": ["can't be blank"]}),
            ("same", {"email": ["did not change"]}),
            ("taken", {"email": ["has already been taken"]}),
        ],
    )
    async def test_an_invalid_new_email_is_422(
        self,
        client: httpx.AsyncClient,
        db: AsyncConnection,
        user: accounts.User,
        user_auth: dict[str, str],
        email: str,
        errors: dict[str, list[str]],
    ) -> None:
        if email == "same":
            email = user.email.upper()
        elif email == "taken":
            email = (await api_user()).email.upper()

        response = await client.post(
            "/api/users/me/email", json={"current_password": PASSWORD, "email": email}, headers=user_auth
        )

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": errors}
        assert await email_jobs(db, user.id) == []

    async def test_a_link_for_an_email_taken_meanwhile_is_422(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        new_email = unique_email("new")
        email = await accounts.deliver_user_update_email_instructions(
            user, user.email, new_email, link_to("settings/confirm-email")
        )
        await api_user(email=new_email)

        response = await client.put(f"/api/users/me/email/{token_from(email)}", headers=user_auth)

        assert response.status_code == 422
        assert response.json() == {"errors": {"email": ["has already been taken"]}}
        assert await stored_email(user) == user.email

    async def test_another_users_link_is_404(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        other = await api_user()
        email = await accounts.deliver_user_update_email_instructions(
            other, other.email, unique_email(), link_to("settings/confirm-email")
        )

        response = await client.put(f"/api/users/me/email/{token_from(email)}", headers=user_auth)

        assert response.status_code == 404
        assert await stored_email(other) == other.email

    async def test_an_expired_or_bad_link_is_404(
        self, client: httpx.AsyncClient, db: AsyncConnection, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        email = await accounts.deliver_user_update_email_instructions(
            user, user.email, unique_email(), link_to("settings/confirm-email")
        )
        token = token_from(email)
        await age_token(db, token, timedelta(days=8))

        for bad in (token, "nope"):
            response = await client.put(f"/api/users/me/email/{bad}", headers=user_auth)
            assert response.status_code == 404
            assert response.json() == NOT_FOUND

    async def test_both_need_a_token(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        email = await accounts.deliver_user_update_email_instructions(
            user, user.email, unique_email(), link_to("settings/confirm-email")
        )

        requested = await client.post("/api/users/me/email", json={"current_password": PASSWORD, "email": "a@b.c"})
        switched = await client.put(f"/api/users/me/email/{token_from(email)}")

        assert requested.status_code == switched.status_code == 401

    @pytest.mark.parametrize("body", [{}, {"email": "a@b.c"}, {"user": {"email": "a@b.c"}}, {"current_password": 1}])
    async def test_a_body_of_the_wrong_shape_is_400(
        self, client: httpx.AsyncClient, user_auth: dict[str, str], body: Any
    ) -> None:
        response = await client.post("/api/users/me/email", json=body, headers=user_auth)

        assert response.status_code == 400
        assert response.json() == BAD_REQUEST


# --- The whole journey, with a real SMTP server and the real job worker ---


@pytest.fixture
def smtp_inbox(settings: Settings) -> Iterator[Inbox]:
    """A real SMTP server on a free port, with the mailer pointed at it for the test."""
    inbox = Inbox()
    controller = FreePortController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    smtp = {"mailer_adapter": "smtp", "smtp_host": "127.0.0.1", "smtp_port": controller.port, "smtp_security": "none"}
    try:
        with mailer.running.holding(settings.model_copy(update=smtp)):
            yield inbox
    finally:
        controller.stop()


@pytest.fixture
async def committed(started_app: application.Application) -> AsyncIterator[None]:
    """No sandbox: the data is committed (the worker reads it); users and jobs are wiped around the test."""
    await truncate()
    try:
        yield
    finally:
        await truncate()


def link_token(body: str, path: str) -> str:
    match = re.search(re.escape(path) + r"/([A-Za-z0-9_-]+)", body)
    assert match is not None, f"no {path} link in:\n{body}"
    return match.group(1)


async def test_register_confirm_log_in_change_and_reset_the_password_over_smtp(
    web_app: FastAPI, committed: None, smtp_inbox: Inbox
) -> None:
    email = unique_email("journey")
    async with client_for(web_app) as client:
        registered = await client.post(
            "/api/users/register", json={"user": {"email": email, "name": "Journey", "password": PASSWORD}}
        )
        assert registered.status_code == 201, registered.text

        await run_worker("emails")
        assert sorted(str(item.message["To"]) for item in smtp_inbox.received) == [email, email]
        confirm_token = link_token(smtp_inbox.body_of("Confirm your"), "/users/confirm")
        smtp_inbox.body_of("Welcome")

        confirmed = await client.post(f"/api/users/confirm/{confirm_token}")
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["data"]["confirmed_at"] is not None

        session = await log_in(client, email, PASSWORD)
        assert session.status_code == 201, session.text
        first_token = session.json()["data"]["token"]
        me = await client.get("/api/users/me", headers=auth_header(first_token))
        assert me.status_code == 200
        assert me.json()["data"]["email"] == email

        changed = await client.put(
            "/api/users/me/password",
            json={"current_password": PASSWORD, "password": NEW_PASSWORD},
            headers=auth_header(first_token),
        )
        assert changed.status_code == 200, changed.text
        second_token = changed.json()["data"]["token"]
        assert (await client.get("/api/users/me", headers=auth_header(first_token))).status_code == 401
        assert (await client.get("/api/users/me", headers=auth_header(second_token))).status_code == 200

        forgotten = await client.post("/api/users/reset-password", json={"email": email})
        assert forgotten.status_code == 202
        await run_worker("emails")
        reset_token = link_token(smtp_inbox.body_of("Reset your"), "/users/reset-password")

        final_password = "the third long passphrase"
        reset = await client.put(f"/api/users/reset-password/{reset_token}", json={"password": final_password})
        assert reset.status_code == 200, reset.text
        assert (await client.get("/api/users/me", headers=auth_header(second_token))).status_code == 401
        assert (await log_in(client, email, NEW_PASSWORD)).status_code == 401
        final = await log_in(client, email, final_password)
        assert final.status_code == 201, final.text
        assert (
            await client.get("/api/users/me", headers=auth_header(final.json()["data"]["token"]))
        ).status_code == 200

    assert len(smtp_inbox.received) == 3
    user = await accounts.get_user_by_email(email)
    assert user is not None
    assert user.confirmed_at is not None
    # Every email job succeeded, and the raw tokens went out by email only: the jobs table never held them.
    async with repo.transaction() as db_session:
        rows = (
            await db_session.execute(
                text(
                    "SELECT status::text, args::text FROM procrastinate_jobs"
                    " WHERE task_name = 'email:deliver_email' ORDER BY id"
                )
            )
        ).all()
    assert [status for status, _ in rows] == ["succeeded"] * 3
    assert not [args for _, args in rows if confirm_token in args or reset_token in args]
