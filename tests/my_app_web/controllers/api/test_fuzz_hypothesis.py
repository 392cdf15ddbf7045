"""No route returns 500 for any JSON body: Hypothesis explores the bodies of every write operation.

Complements test_fuzz.py (a fixed, seeded corpus over every operation): here Hypothesis generates
arbitrary JSON, both bare and wrapped in the resource's key, and shrinks any body that breaks a
route to a minimal example.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fixtures.api import api_user, auth_for, reset_rate_limits

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=80)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
user_fields = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("email", "name", "password", "role", "current_password"), json_values)
)
bodies = json_values | st.fixed_dictionaries({"user": json_values | user_fields}) | user_fields

# (method, path, needs an admin token): every operation that reads a body.
WRITE_OPERATIONS = [
    ("post", "/api/users/register", False),
    ("post", "/api/sessions", False),
    ("post", "/api/users/reset-password", False),
    ("put", "/api/users/reset-password/some-token", False),
    ("post", "/api/users/confirm", False),
    ("post", "/api/users/log-in-link", False),
    ("post", "/api/users", True),
    ("put", "/api/users/me/password", True),
    ("post", "/api/users/me/email", True),
]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=bodies)
async def test_no_body_makes_any_write_route_fail_with_500(
    client: httpx.AsyncClient, web_app: FastAPI, body: Any
) -> None:
    admin = await api_user(role="admin")
    headers = await auth_for(admin)
    await reset_rate_limits(web_app)
    for method, path, needs_admin in WRITE_OPERATIONS:
        response = await client.request(method, path, json=body, headers=headers if needs_admin else {})
        assert response.status_code < 500, (method, path, body, response.text)
        assert set(response.json()) & {"errors", "data"}, (method, path, body, response.text)


@FUZZ
@given(user=json_values)
async def test_no_user_payload_makes_an_update_fail_with_500(client: httpx.AsyncClient, user: Any) -> None:
    admin = await api_user(role="admin")
    headers = await auth_for(admin)
    for method in ("patch", "put"):
        response = await client.request(method, f"/api/users/{admin.id}", json={"user": user}, headers=headers)
        assert response.status_code < 500, (method, user, response.text)
