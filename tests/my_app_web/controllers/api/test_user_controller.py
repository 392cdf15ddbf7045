"""The users API (Phoenix's user_controller_test): registration and the admin/self user routes."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from my_app.config import Settings
from my_app_web.endpoint import create_app
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.api import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    PASSWORD,
    UNAUTHORIZED,
    api_user,
    assert_user_json,
    auth_for,
    client_from,
    email_types,
    unique_email,
)


def registration(**overrides: Any) -> dict[str, Any]:
    return {"user": {"email": unique_email(), "name": "Ada Lovelace", "password": PASSWORD, **overrides}}


async def user_count(db: AsyncConnection) -> int:
    return int((await db.execute(text("SELECT count(*) FROM users"))).scalar_one())


async def stored(user_id: uuid.UUID | str) -> accounts.User:
    found = await accounts.get_user(SYSTEM, uuid.UUID(str(user_id)))
    assert found is not None
    return found


# --- POST /api/users/register ---


class TestRegister:
    async def test_creates_the_user_and_answers_201_with_its_location(self, client: httpx.AsyncClient) -> None:
        body = registration(email="Ada@Example.com")

        response = await client.post("/api/users/register", json=body)

        assert response.status_code == 201, response.text
        data = response.json()["data"]
        assert set(response.json()) == {"data"}
        assert_user_json(data)
        assert data["email"] == "Ada@Example.com"
        assert data["name"] == "Ada Lovelace"
        assert data["role"] == "user"
        assert data["confirmed_at"] is None
        assert response.headers["location"] == f"/api/users/{data['id']}"
        assert (await stored(data["id"])).email == "Ada@Example.com"

    async def test_never_takes_the_role_from_the_body(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/api/users/register", json=registration(role="admin"))

        assert response.status_code == 201, response.text
        assert response.json()["data"]["role"] == "user"
        assert (await stored(response.json()["data"]["id"])).role == accounts.Role.USER

    async def test_the_new_user_can_log_in(self, client: httpx.AsyncClient) -> None:
        body = registration()
        await client.post("/api/users/register", json=body)

        session = await client.post("/api/sessions", json={"email": body["user"]["email"], "password": PASSWORD})

        assert session.status_code == 201, session.text

    async def test_enqueues_the_welcome_and_the_confirmation_email(
        self, client: httpx.AsyncClient, db: AsyncConnection
    ) -> None:
        response = await client.post("/api/users/register", json=registration())

        assert await email_types(db, response.json()["data"]["id"]) == ["welcome", "confirmation"]

    @pytest.mark.parametrize(
        ("fields", "errors"),
        [
            (
                {"email": "not an email", "name": "", "password": "short"},
                {
                    "email": ["must be a valid email"],
                    "name": ["can't be blank"],
                    "password": ["should be at least 12 character(s)"],
                },
            ),
            ({}, {"email": ["can't be blank"], "name": ["can't be blank"], "password": ["can't be blank"]}),
            (
                {"email": None, "name": "  ", "password": None},
                {"email": ["can't be blank"], "name": ["can't be blank"], "password": ["can't be blank"]},
            ),
            (
                {"email": "a" * 150 + "@example.com", "name": "Ada", "password": PASSWORD},
                {"email": ["should be at most 160 character(s)"]},
            ),
            (
                {"email": "ada@example.com", "name": "x" * 161, "password": PASSWORD},
                {"name": ["should be at most 160 character(s)"]},
            ),
            (
                {"email": "ada@example.com", "name": "Ada", "password": "x" * 73},
                {"password": ["should be at most 72 character(s)"]},
            ),
        ],
    )
    async def test_invalid_fields_are_422_with_ectos_messages_and_nothing_is_written(
        self, client: httpx.AsyncClient, db: AsyncConnection, fields: dict[str, Any], errors: dict[str, list[str]]
    ) -> None:
        before = await user_count(db)

        response = await client.post("/api/users/register", json={"user": fields})

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": errors}
        assert await user_count(db) == before
        jobs = await db.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'email:deliver_email'"))
        assert jobs.scalar_one() == 0

    async def test_a_password_over_72_bytes_is_422_not_a_crash(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/api/users/register", json=registration(password="é" * 40))

        assert response.status_code == 422, response.text
        assert set(response.json()["errors"]) == {"password"}

    async def test_a_taken_email_in_another_letter_case_has_already_been_taken(
        self, client: httpx.AsyncClient, db: AsyncConnection
    ) -> None:
        email = unique_email()
        first = await client.post("/api/users/register", json=registration(email=email))
        assert first.status_code == 201

        second = await client.post("/api/users/register", json=registration(email=email.upper()))

        assert second.status_code == 422
        assert second.json() == {"errors": {"email": ["has already been taken"]}}
        assert await email_types(db, first.json()["data"]["id"]) == ["welcome", "confirmation"]

    @pytest.mark.parametrize(
        "body",
        [
            {"email": "ada@example.com", "name": "Ada", "password": PASSWORD},  # no "user" wrapper
            {"users": {"email": "ada@example.com", "name": "Ada", "password": PASSWORD}},
            {"user": None},
            {"user": "ada@example.com"},
            {"user": [1, 2]},
            {"user": {"email": 123, "name": "Ada", "password": PASSWORD}},
            {"user": {"email": "ada@example.com", "name": ["Ada"], "password": PASSWORD}},
            {"user": {"email": "ada@example.com", "name": "Ada", "password": {"a": 1}}},
            {"user": {"email": "ada@example.com", "name": "Ada", "password": True}},
            [],
            "user",
            None,
        ],
    )
    async def test_a_body_of_the_wrong_shape_or_types_is_400(self, client: httpx.AsyncClient, body: Any) -> None:
        response = await client.post("/api/users/register", json=body)

        assert response.status_code == 400, response.text
        assert response.json() == BAD_REQUEST

    @pytest.mark.parametrize(
        "content", [b"", b"{", b'{"user": {"email": "a@b.c",}}', b"\xff\xfe", b"user=ada", b'{"user": NaN}']
    )
    async def test_malformed_json_is_400(self, client: httpx.AsyncClient, content: bytes) -> None:
        response = await client.post(
            "/api/users/register", content=content, headers={"content-type": "application/json"}
        )

        assert response.status_code == 400, response.text
        assert response.json() == BAD_REQUEST

    async def test_text_the_database_cannot_store_is_400_not_a_crash(self, client: httpx.AsyncClient) -> None:
        for fields in ({"email": "a\u0000b@example.com"}, {"name": "Ada\u0000"}):
            response = await client.post("/api/users/register", json=registration(**fields))
            assert response.status_code == 400, response.text
        lone_surrogate = b'{"user": {"email": "ada@example.com", "name": "\\ud800", "password": "a long passphrase"}}'
        response = await client.post(
            "/api/users/register", content=lone_surrogate, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.json() == BAD_REQUEST


class TestRegistrationLimit:
    """RATE_LIMIT_REGISTRATION ("10/hour" per client IP): the 422 for a taken email tells whether an
    address has an account, and every sign-up sends two emails; the limit bounds both."""

    REGISTRATION_LIMIT = 10

    async def test_the_eleventh_sign_up_from_an_address_is_refused(self, web_app: FastAPI, db: AsyncConnection) -> None:
        async with client_from(web_app, "10.0.5.1") as client:
            for _ in range(self.REGISTRATION_LIMIT):
                assert (await client.post("/api/users/register", json=registration())).status_code == 201
            users_before = await user_count(db)
            refused = await client.post("/api/users/register", json=registration())

        async with client_from(web_app, "10.0.5.2") as elsewhere:
            allowed = await elsewhere.post("/api/users/register", json=registration())

        assert refused.status_code == 429, refused.text
        assert refused.json() == {"errors": {"detail": "Too Many Requests"}}
        assert 1 <= int(refused.headers["retry-after"]) <= 3600
        assert await user_count(db) == users_before + 1  # only the other address's
        assert allowed.status_code == 201

    async def test_probing_taken_emails_counts_too(self, web_app: FastAPI, db: AsyncConnection) -> None:
        taken = await api_user()
        async with client_from(web_app, "10.0.5.3") as client:
            for _ in range(self.REGISTRATION_LIMIT):
                response = await client.post("/api/users/register", json=registration(email=taken.email))
                assert response.json() == {"errors": {"email": ["has already been taken"]}}
            probe = await client.post("/api/users/register", json=registration(email=taken.email))

        assert probe.status_code == 429

    async def test_a_very_high_setting_switches_the_limit_off(self, settings: Settings, db: AsyncConnection) -> None:
        app = create_app(
            settings.model_copy(update={"rate_limit_registration": "1000000/hour"}), start_application=False
        )
        async with client_from(app, "10.0.5.4") as client:
            for _ in range(self.REGISTRATION_LIMIT * 2):
                assert (await client.post("/api/users/register", json=registration())).status_code == 201
        await app.state.limiter.close()


# --- GET /api/users/me ---


class TestMe:
    async def test_shows_the_tokens_user(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        response = await client.get("/api/users/me", headers=user_auth)

        assert response.status_code == 200
        assert_user_json(response.json()["data"], user)

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"authorization": "Bearer"},
            {"authorization": "Bearer not-a-token"},
            {"authorization": "Bearer " + "A" * 43},
            {"authorization": "Basic dXNlcjpwYXNz"},
            {"authorization": "Token abc"},
        ],
    )
    async def test_without_a_valid_bearer_token_is_401(
        self, client: httpx.AsyncClient, db: AsyncConnection, headers: dict[str, str]
    ) -> None:
        response = await client.get("/api/users/me", headers=headers)

        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_a_session_token_is_no_api_token(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        session_token = await accounts.generate_user_session_token(user)

        response = await client.get("/api/users/me", headers={"authorization": f"Bearer {session_token}"})

        assert response.status_code == 401


# --- GET /api/users ---


class TestIndex:
    async def test_needs_a_token(self, client: httpx.AsyncClient, db: AsyncConnection) -> None:
        response = await client.get("/api/users")

        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_is_forbidden_to_users(self, client: httpx.AsyncClient, user_auth: dict[str, str]) -> None:
        response = await client.get("/api/users", headers=user_auth)

        assert response.status_code == 403
        assert response.json() == FORBIDDEN

    async def test_lists_users_oldest_first_for_admins(
        self, client: httpx.AsyncClient, admin: accounts.User, admin_auth: dict[str, str]
    ) -> None:
        others = [await api_user() for _ in range(3)]

        response = await client.get("/api/users", headers=admin_auth)

        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"data", "meta"}
        assert body["meta"] == {"limit": 20, "next_cursor": None}
        for data in body["data"]:
            assert_user_json(data)
        expected = [str(user.id) for user in await accounts.list_users(SYSTEM)]
        assert [data["id"] for data in body["data"]] == expected
        assert {str(admin.id), *(str(other.id) for other in others)} <= set(expected)

    async def test_cursor_pagination_walks_every_user_once(
        self, client: httpx.AsyncClient, admin_auth: dict[str, str]
    ) -> None:
        for _ in range(7):
            await api_user()
        everyone = [str(user.id) for user in await accounts.list_users(SYSTEM)]
        seen: list[str] = []
        cursor: str | None = None
        pages = 0

        while True:
            params: dict[str, str | int] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            response = await client.get("/api/users", params=params, headers=admin_auth)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["meta"]["limit"] == 3
            assert len(body["data"]) <= 3
            seen += [data["id"] for data in body["data"]]
            pages += 1
            cursor = body["meta"]["next_cursor"]
            if cursor is None:
                break
            assert pages < 10, "pagination does not end"

        assert seen == everyone
        assert len(set(seen)) == len(seen)
        assert pages == -(-len(everyone) // 3)

    async def test_a_page_is_stable_under_inserts(self, client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
        for _ in range(3):
            await api_user()
        before = {str(user.id) for user in await accounts.list_users(SYSTEM)}
        first = (await client.get("/api/users", params={"limit": 2}, headers=admin_auth)).json()
        for _ in range(3):
            await api_user()

        rest = await client.get(
            "/api/users", params={"limit": 100, "cursor": first["meta"]["next_cursor"]}, headers=admin_auth
        )

        ids = [data["id"] for data in first["data"]] + [data["id"] for data in rest.json()["data"]]
        assert len(set(ids)) == len(ids)
        assert before <= set(ids)

    @pytest.mark.parametrize("limit", ["1", "100"])
    async def test_limit_within_bounds(self, client: httpx.AsyncClient, admin_auth: dict[str, str], limit: str) -> None:
        response = await client.get("/api/users", params={"limit": limit}, headers=admin_auth)

        assert response.status_code == 200
        assert response.json()["meta"]["limit"] == int(limit)
        assert len(response.json()["data"]) <= int(limit)

    @pytest.mark.parametrize("limit", ["0", "-1", "101", "1000000000000000000000", "ten", "1.5", ""])
    async def test_limit_out_of_bounds_or_not_a_number_is_400(
        self, client: httpx.AsyncClient, admin_auth: dict[str, str], limit: str
    ) -> None:
        response = await client.get("/api/users", params={"limit": limit}, headers=admin_auth)

        assert response.status_code == 400, response.text
        assert response.json() == BAD_REQUEST

    @pytest.mark.parametrize(
        "cursor",
        [
            "garbage",
            "!!!",
            "e30",  # {}
            base64.urlsafe_b64encode(b'["not a date", "nope"]').decode(),
            base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "not-a-uuid"]').decode(),
            base64.urlsafe_b64encode(b"[1, 2]").decode(),
            base64.urlsafe_b64encode(b"null").decode(),
            "é",
        ],
    )
    async def test_a_bad_cursor_is_422(
        self, client: httpx.AsyncClient, admin_auth: dict[str, str], cursor: str
    ) -> None:
        response = await client.get("/api/users", params={"cursor": cursor}, headers=admin_auth)

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": {"cursor": ["is invalid"]}}


# --- POST /api/users ---


class TestCreate:
    async def test_admins_create_users_with_a_role(
        self, client: httpx.AsyncClient, db: AsyncConnection, admin_auth: dict[str, str]
    ) -> None:
        body = registration(role="admin")

        response = await client.post("/api/users", json=body, headers=admin_auth)

        assert response.status_code == 201, response.text
        data = response.json()["data"]
        assert_user_json(data)
        assert data["role"] == "admin"
        assert data["email"] == body["user"]["email"]
        assert response.headers["location"] == f"/api/users/{data['id']}"
        assert (await stored(data["id"])).role == accounts.Role.ADMIN
        assert await email_types(db, data["id"]) == []

    async def test_the_role_defaults_to_user(self, client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
        response = await client.post("/api/users", json=registration(), headers=admin_auth)

        assert response.status_code == 201
        assert response.json()["data"]["role"] == "user"

    async def test_invalid_input_is_422(
        self, client: httpx.AsyncClient, db: AsyncConnection, admin_auth: dict[str, str]
    ) -> None:
        before = await user_count(db)

        response = await client.post(
            "/api/users", json={"user": {"email": "nope", "name": "", "role": "superuser"}}, headers=admin_auth
        )

        assert response.status_code == 422
        errors = response.json()["errors"]
        assert errors["email"] == ["must be a valid email"]
        assert errors["name"] == ["can't be blank"]
        assert set(errors) == {"email", "name", "role"}
        assert await user_count(db) == before

    async def test_a_taken_email_is_422(
        self, client: httpx.AsyncClient, admin: accounts.User, admin_auth: dict[str, str]
    ) -> None:
        response = await client.post("/api/users", json=registration(email=admin.email.upper()), headers=admin_auth)

        assert response.status_code == 422
        assert response.json() == {"errors": {"email": ["has already been taken"]}}

    async def test_without_the_wrapper_is_400(self, client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
        response = await client.post("/api/users", json=registration()["user"], headers=admin_auth)

        assert response.status_code == 400
        assert response.json() == BAD_REQUEST

    async def test_is_forbidden_to_users(
        self, client: httpx.AsyncClient, db: AsyncConnection, user_auth: dict[str, str]
    ) -> None:
        before = await user_count(db)

        response = await client.post("/api/users", json=registration(role="admin"), headers=user_auth)

        assert response.status_code == 403
        assert response.json() == FORBIDDEN
        assert await user_count(db) == before

    async def test_needs_a_token(self, client: httpx.AsyncClient, db: AsyncConnection) -> None:
        response = await client.post("/api/users", json=registration())

        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED


# --- GET /api/users/{id} ---


class TestShow:
    async def test_users_see_themselves(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        response = await client.get(f"/api/users/{user.id}", headers=user_auth)

        assert response.status_code == 200
        assert_user_json(response.json()["data"], user)

    async def test_users_may_not_see_others(
        self, client: httpx.AsyncClient, admin: accounts.User, user_auth: dict[str, str]
    ) -> None:
        response = await client.get(f"/api/users/{admin.id}", headers=user_auth)

        assert response.status_code == 403
        assert response.json() == FORBIDDEN

    async def test_admins_see_anyone(
        self, client: httpx.AsyncClient, user: accounts.User, admin_auth: dict[str, str]
    ) -> None:
        response = await client.get(f"/api/users/{user.id}", headers=admin_auth)

        assert response.status_code == 200
        assert_user_json(response.json()["data"], user)

    async def test_an_unknown_id_is_404(self, client: httpx.AsyncClient, admin_auth: dict[str, str]) -> None:
        response = await client.get(f"/api/users/{uuid.uuid4()}", headers=admin_auth)

        assert response.status_code == 404
        assert response.json() == NOT_FOUND

    @pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "%00", "me2"])
    async def test_a_malformed_id_is_404(
        self, client: httpx.AsyncClient, admin_auth: dict[str, str], user_auth: dict[str, str], bad_id: str
    ) -> None:
        for headers in (admin_auth, user_auth):
            response = await client.get(f"/api/users/{bad_id}", headers=headers)
            assert response.status_code == 404, response.text
            assert response.json() == NOT_FOUND

    async def test_needs_a_token(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        response = await client.get(f"/api/users/{user.id}")

        assert response.status_code == 401


# --- PATCH/PUT /api/users/{id} ---


@pytest.fixture(params=["PATCH", "PUT"])
def update_method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestUpdate:
    async def test_users_change_their_name(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str], update_method: str
    ) -> None:
        response = await client.request(
            update_method, f"/api/users/{user.id}", json={"user": {"name": "Grace Hopper"}}, headers=user_auth
        )

        assert response.status_code == 200, response.text
        assert response.json()["data"]["name"] == "Grace Hopper"
        assert (await stored(user.id)).name == "Grace Hopper"

    async def test_users_cannot_make_themselves_admin(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str], update_method: str
    ) -> None:
        response = await client.request(
            update_method, f"/api/users/{user.id}", json={"user": {"role": "admin", "name": "Me"}}, headers=user_auth
        )

        assert response.status_code == 200
        assert response.json()["data"]["role"] == "user"
        assert (await stored(user.id)).role == accounts.Role.USER
        listed = await client.get("/api/users", headers=user_auth)
        assert listed.status_code == 403

    async def test_users_cannot_change_their_email_here(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        response = await client.patch(
            f"/api/users/{user.id}", json={"user": {"email": unique_email()}}, headers=user_auth
        )

        assert response.status_code == 200
        assert (await stored(user.id)).email == user.email

    async def test_users_may_not_update_others(
        self, client: httpx.AsyncClient, admin: accounts.User, user_auth: dict[str, str], update_method: str
    ) -> None:
        response = await client.request(
            update_method, f"/api/users/{admin.id}", json={"user": {"name": "Hacked"}}, headers=user_auth
        )

        assert response.status_code == 403
        assert response.json() == FORBIDDEN
        assert (await stored(admin.id)).name == admin.name

    async def test_admins_change_role_name_and_email(
        self, client: httpx.AsyncClient, user: accounts.User, admin_auth: dict[str, str], update_method: str
    ) -> None:
        email = unique_email()

        response = await client.request(
            update_method,
            f"/api/users/{user.id}",
            json={"user": {"role": "admin", "name": "Promoted", "email": email}},
            headers=admin_auth,
        )

        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert (data["role"], data["name"], data["email"]) == ("admin", "Promoted", email)
        promoted = await stored(user.id)
        assert promoted.role == accounts.Role.ADMIN
        assert (await client.get("/api/users", headers=await auth_for(promoted))).status_code == 200

    @pytest.mark.parametrize(
        ("fields", "errors"),
        [
            ({"name": "x" * 161}, {"name": ["should be at most 160 character(s)"]}),
            ({"name": ""}, {"name": ["can't be blank"]}),
            ({"name": None}, {"name": ["can't be blank"]}),
        ],
    )
    async def test_invalid_input_is_422_and_leaves_the_user_unchanged(
        self,
        client: httpx.AsyncClient,
        user: accounts.User,
        user_auth: dict[str, str],
        fields: dict[str, Any],
        errors: dict[str, list[str]],
    ) -> None:
        response = await client.patch(f"/api/users/{user.id}", json={"user": fields}, headers=user_auth)

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": errors}
        after = await stored(user.id)
        assert (after.name, after.email, after.role, after.updated_at) == (
            user.name,
            user.email,
            user.role,
            user.updated_at,
        )

    async def test_admin_invalid_input_is_422_and_leaves_the_user_unchanged(
        self, client: httpx.AsyncClient, user: accounts.User, admin: accounts.User, admin_auth: dict[str, str]
    ) -> None:
        response = await client.patch(
            f"/api/users/{user.id}",
            json={"user": {"name": "Changed", "email": admin.email.upper(), "role": "user"}},
            headers=admin_auth,
        )
        assert response.status_code == 422
        assert response.json() == {"errors": {"email": ["has already been taken"]}}

        response = await client.patch(
            f"/api/users/{user.id}", json={"user": {"email": "nope", "role": "superuser"}}, headers=admin_auth
        )
        assert response.status_code == 422
        assert set(response.json()["errors"]) == {"email", "role"}

        after = await stored(user.id)
        assert (after.name, after.email, after.role) == (user.name, user.email, user.role)

    @pytest.mark.parametrize(
        "body", [{"name": "No wrapper"}, {"user": None}, {"user": {"name": 42}}, {"user": {"role": ["admin"]}}]
    )
    async def test_a_body_of_the_wrong_shape_is_400(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str], body: Any
    ) -> None:
        response = await client.patch(f"/api/users/{user.id}", json=body, headers=user_auth)

        assert response.status_code == 400
        assert response.json() == BAD_REQUEST

    async def test_unknown_and_malformed_ids_are_404(
        self, client: httpx.AsyncClient, admin_auth: dict[str, str], update_method: str
    ) -> None:
        for user_id in (str(uuid.uuid4()), "not-a-uuid"):
            response = await client.request(
                update_method, f"/api/users/{user_id}", json={"user": {"name": "Ghost"}}, headers=admin_auth
            )
            assert response.status_code == 404
            assert response.json() == NOT_FOUND

    async def test_needs_a_token(self, client: httpx.AsyncClient, user: accounts.User, update_method: str) -> None:
        response = await client.request(update_method, f"/api/users/{user.id}", json={"user": {"name": "Anonymous"}})

        assert response.status_code == 401
        assert (await stored(user.id)).name == user.name


# --- DELETE /api/users/{id} ---


class TestDelete:
    async def test_admins_delete_users(
        self, client: httpx.AsyncClient, user: accounts.User, admin_auth: dict[str, str]
    ) -> None:
        user_auth = await auth_for(user)

        response = await client.delete(f"/api/users/{user.id}", headers=admin_auth)

        assert response.status_code == 204
        assert response.content == b""
        assert (await client.get(f"/api/users/{user.id}", headers=admin_auth)).status_code == 404
        assert (await client.get("/api/users/me", headers=user_auth)).status_code == 401
        assert await accounts.get_user(SYSTEM, user.id) is None

    async def test_users_delete_themselves_and_their_tokens_stop_working(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        response = await client.delete(f"/api/users/{user.id}", headers=user_auth)

        assert response.status_code == 204
        assert await accounts.get_user(SYSTEM, user.id) is None
        assert (await client.get(f"/api/users/{user.id}", headers=user_auth)).status_code == 401

    async def test_users_may_not_delete_others(
        self, client: httpx.AsyncClient, admin: accounts.User, user_auth: dict[str, str]
    ) -> None:
        response = await client.delete(f"/api/users/{admin.id}", headers=user_auth)

        assert response.status_code == 403
        assert response.json() == FORBIDDEN
        assert await accounts.get_user(SYSTEM, admin.id) is not None

    async def test_unknown_and_malformed_ids_are_404(
        self, client: httpx.AsyncClient, admin_auth: dict[str, str]
    ) -> None:
        for user_id in (str(uuid.uuid4()), "not-a-uuid"):
            response = await client.delete(f"/api/users/{user_id}", headers=admin_auth)
            assert response.status_code == 404
            assert response.json() == NOT_FOUND

    async def test_needs_a_token(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        response = await client.delete(f"/api/users/{user.id}")

        assert response.status_code == 401
        assert await accounts.get_user(SYSTEM, user.id) is not None
