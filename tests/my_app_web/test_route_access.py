"""Every route of the router, walked: a route is declared public here, or it refuses a visitor (401,
403, or a redirect to log in); an admin route also refuses a signed-in user who is not an admin (403).

A new route that forgets its authorization fails this test until it is declared public, so a route
cannot be opened to everyone by accident. The walk uses real records (a user, a category, a product,
a post, a comment) for the path parameters, so a route without its check would answer 200 or 422,
not a 404 that would hide the missing check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from tests.support.browser_forms import csrf_token_in, log_in
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import user_fixture
from tests.support.fixtures.blog import comment_fixture, post_fixture
from tests.support.fixtures.catalog import product_fixture

# Anyone may call these (method, path template): the rest refuse a visitor.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/"),
    ("GET", "/users/log-in"),
    ("POST", "/users/log-in"),
    ("GET", "/users/log-in/{token}"),
    ("POST", "/users/log-in/{token}"),
    ("POST", "/users/log-out"),  # logging out without a session is a no-op redirect
    ("DELETE", "/users/log-out"),
    ("GET", "/users/confirm"),
    ("POST", "/users/confirm"),
    ("GET", "/users/confirm/{token}"),
    ("POST", "/users/confirm/{token}"),
    ("GET", "/users/reset-password"),
    ("POST", "/users/reset-password"),
    ("GET", "/users/reset-password/{token}"),
    ("POST", "/users/reset-password/{token}"),
    ("POST", "/users/reset-password/{token}/validate"),
    ("GET", "/users/register"),
    ("POST", "/users/register"),
    ("POST", "/users/register/validate"),
    ("GET", "/chat/token"),  # answers a visitor with no token (the chat page asks before connecting)
    ("GET", "/products"),
    ("GET", "/products/{product_id}"),
    ("GET", "/blog"),
    ("GET", "/blog/{slug}"),
    ("POST", "/api/users/register"),
    ("POST", "/api/users/confirm"),
    ("POST", "/api/users/confirm/{token}"),
    ("POST", "/api/users/reset-password"),
    ("PUT", "/api/users/reset-password/{token}"),
    ("POST", "/api/users/log-in-link"),
    ("POST", "/api/sessions"),
    ("POST", "/api/sessions/magic-link/{token}"),
    ("GET", "/api/categories"),
    ("GET", "/api/categories/{id}"),
    ("GET", "/api/products"),
    ("GET", "/api/products/{id}"),
    ("GET", "/api/posts"),
    ("GET", "/api/posts/{id}"),
    ("GET", "/api/posts/{post_id}/comments"),
    ("GET", "/api/posts/{post_id}/comments/{id}"),
}

# Only admins: a signed-in user who is not one gets 403.
ADMIN_PREFIXES = ("/users/{user_id:uuid}", "/admin/")
ADMIN = {
    ("GET", "/metrics"),
    ("GET", "/users"),
    ("GET", "/users/new"),
    ("POST", "/users"),
    ("POST", "/users/validate"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("POST", "/api/categories"),
    ("PATCH", "/api/categories/{id}"),
    ("PUT", "/api/categories/{id}"),
    ("DELETE", "/api/categories/{id}"),
    ("GET", "/api/products/export.csv"),
    ("POST", "/api/products"),
    ("PATCH", "/api/products/{id}"),
    ("PUT", "/api/products/{id}"),
    ("DELETE", "/api/products/{id}"),
}

NO_RECORD = "00000000-0000-4000-8000-000000000000"
_RESOURCE = {"users": "user", "categories": "category", "products": "product"}
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


@dataclass(frozen=True)
class Records:
    user_id: str
    category_id: str
    product_id: str
    post_id: str
    post_slug: str
    comment_id: str

    def path(self, template: str) -> str:
        """The template with a real record's id (or slug) for each parameter."""

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "slug":
                return "lobby" if template.startswith("/chat/") else self.post_slug
            if name == "id":
                for prefix, record in [
                    ("/api/users", self.user_id),
                    ("/api/categories", self.category_id),
                    ("/api/products", self.product_id),
                    ("/api/posts/{post_id}/comments", self.comment_id),
                    ("/api/posts", self.post_id),
                ]:
                    if template.startswith(prefix):
                        return record
            known = {
                "user_id": self.user_id,
                "category_id": self.category_id,
                "product_id": self.product_id,
                "post_id": self.post_id,
                "comment_id": self.comment_id,
                "token": "not-a-real-token",
                # The dashboard's buttons: any job id and queue name (a button that forgot its check
                # answers a redirect back to the dashboard, not to the log-in page).
                "job_id": "1",
                "queue": "default",
            }
            # Any other parameter (a generated resource's id): a real-looking id of no record, so a
            # route without its check answers 404 (let through), not a refusal.
            return known.get(name, NO_RECORD)

        return _PARAM.sub(value, template)


def routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path) for route in app.router.routes if isinstance(route, APIRoute) for method in route.methods
    )


def is_admin_route(method: str, path: str) -> bool:
    return (method, path) in ADMIN or path.startswith(ADMIN_PREFIXES)


@pytest.fixture
async def records(db: AsyncConnection) -> Records:
    # In the test's transaction (db): without it, a test that asks for no client would commit them
    # (a category left behind broke the catalog seeds test that ran next on the same database).
    owner = await user_fixture(name="Route Walker")
    product = await product_fixture()
    post = await post_fixture(owner, published_at="2026-12-01T10:00:00")
    comment = await comment_fixture(owner, post)
    return Records(
        user_id=str(owner.id),
        category_id=str(product.category_id),
        product_id=str(product.id),
        post_id=str(post.id),
        post_slug=post.slug,
        comment_id=str(comment.id),
    )


def test_every_declared_route_exists(web_app: FastAPI) -> None:
    served = set(routes(web_app))
    assert PUBLIC - served == set(), "declared public but not routed"
    assert ADMIN - served == set(), "declared admin-only but not routed"


async def test_every_route_not_declared_public_refuses_a_visitor(
    web_app: FastAPI, client: httpx.AsyncClient, records: Records
) -> None:
    # A visitor's session with its CSRF token: the walk tests the authorization, not the CSRF check.
    token = csrf_token_in((await client.get("/users/log-in")).text)
    let_through = []
    for method, template in routes(web_app):
        if (method, template) in PUBLIC:
            continue
        response = await client.request(
            method, records.path(template), data={"_csrf_token": token} if method != "GET" else None
        )
        refused = response.status_code in (401, 403) or (
            response.status_code in (302, 303) and response.headers["location"].startswith("/users/log-in")
        )
        if not refused:
            let_through.append((method, template, response.status_code))
    assert let_through == []


async def test_every_admin_route_refuses_a_user_who_is_not_an_admin(web_app: FastAPI, records: Records) -> None:
    user = await user_fixture(name="Not An Admin")
    bearer = {"authorization": f"Bearer {await accounts.create_api_token(user)}"}
    let_through = []
    async with client_for(web_app) as client:
        assert (await log_in(client, user.email)).status_code == 303
        token = csrf_token_in((await client.get("/users/settings")).text)
        for method, template in routes(web_app):
            if not is_admin_route(method, template):
                continue
            if template.startswith("/api/"):
                # A well-formed body (`{"product": {}}`): refused for who asks, not for its shape.
                body = {_RESOURCE[template.split("/")[2]]: {}} if method in ("POST", "PUT", "PATCH") else None
                response = await client.request(method, records.path(template), headers=bearer, json=body)
            else:
                response = await client.request(
                    method, records.path(template), data={"_csrf_token": token} if method != "GET" else None
                )
            if response.status_code != 403:
                let_through.append((method, template, response.status_code))
    assert let_through == []
