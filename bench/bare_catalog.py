"""The bare baseline of `catalog_api` and `suite`: Starlette + psycopg (async pool) + orjson, no framework of ours.

    DATABASE_URL=... .venv/bin/python -m bench.bare_catalog --port 4010

The same SQL as the app's endpoints (captured from its SQLAlchemy statements, placeholders and
all), and the same JSON, for the catalog's reads, `GET /api/products?limit=N`, `GET
/api/products/{id}` and `GET /api/posts/{id}` (with its comments), and the accounts API's hot
paths: `GET /api/users/me` and `GET /api/users?limit=N` (a bearer token: its SHA-256 looked up
with its user in one query, as `accounts.fetch_user_by_api_token` does; the list for admins only)
and `POST /api/sessions` (the user by email, bcrypt's check of the stored hash in a thread, a new
token row). Nothing else: no middleware, no rate limiter, no validation beyond what a malformed id
or token needs, no access log. It is what Python itself can do for these requests on the same
driver, so the benches report our figures as a fraction of it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import bcrypt
import orjson
import uvicorn
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Statements exactly as SQLAlchemy sends them for list_products, get_product and get_post.
_PRODUCT_COLUMNS = (
    "SELECT categories.id, categories.name, categories.slug, categories.description, categories.inserted_at,"
    " categories.updated_at, products.id AS id_1, products.name AS name_1, products.description AS description_1,"
    " products.price, products.sku, products.stock, products.category_id, products.inserted_at AS inserted_at_1,"
    " products.updated_at AS updated_at_1 \nFROM products JOIN categories ON categories.id = products.category_id "
)
LIST_PRODUCTS = _PRODUCT_COLUMNS + "ORDER BY products.inserted_at DESC, products.id DESC \n LIMIT %(param_1)s::INTEGER"
GET_PRODUCT = _PRODUCT_COLUMNS + "\nWHERE products.id = %(id_2)s::UUID"
GET_POST = (
    "SELECT (SELECT count(comments.id) AS count_1 \nFROM comments \nWHERE comments.post_id = posts.id) AS anon_1,"
    " posts.inserted_at, posts.id, posts.title, posts.slug, posts.body, posts.published_at, posts.author_id,"
    " posts.updated_at, users_1.id AS id_1, users_1.email, users_1.name, users_1.hashed_password, users_1.role,"
    " users_1.confirmed_at, users_1.locale, users_1.inserted_at AS inserted_at_1, users_1.updated_at AS"
    " updated_at_1 \nFROM posts LEFT OUTER JOIN users AS users_1 ON users_1.id = posts.author_id \nWHERE"
    " posts.id = %(id_2)s::UUID AND posts.published_at IS NOT NULL"
)
GET_COMMENTS = (
    "SELECT comments.post_id, comments.inserted_at, comments.id, comments.body, comments.author_id,"
    " comments.updated_at, users_1.id, users_1.email, users_1.name, users_1.hashed_password, users_1.role,"
    " users_1.confirmed_at, users_1.locale, users_1.inserted_at, users_1.updated_at \nFROM comments LEFT OUTER"
    " JOIN users AS users_1 ON users_1.id = comments.author_id \nWHERE comments.post_id IN"
    " (%(primary_keys_1)s::UUID) ORDER BY comments.inserted_at, comments.id"
)
# Accounts: a bearer token's user, the users page, and a log-in's lookup and new token.
_USER_COLUMNS = (
    "SELECT users.id, users.email, users.name, users.hashed_password, users.role, users.confirmed_at,"
    " users.locale, users.inserted_at, users.updated_at"
)
TOKEN_USER = (
    _USER_COLUMNS + ", user_tokens.id AS id_1, user_tokens.token, user_tokens.context, user_tokens.sent_to,"
    " user_tokens.user_id, user_tokens.authenticated_at, user_tokens.inserted_at AS inserted_at_1 \nFROM users"
    " JOIN user_tokens ON user_tokens.user_id = users.id \nWHERE user_tokens.token = %(token_1)s AND"
    " user_tokens.context = %(context_1)s::VARCHAR AND user_tokens.inserted_at >"
    " %(inserted_at_2)s::TIMESTAMP WITH TIME ZONE"
)
LIST_USERS = _USER_COLUMNS + " \nFROM users ORDER BY users.inserted_at, users.id \n LIMIT %(param_1)s::INTEGER"
USER_BY_EMAIL = _USER_COLUMNS + " \nFROM users \nWHERE users.email = %(email_1)s"
INSERT_API_CREDENTIAL = (
    "INSERT INTO user_tokens (id, token, context, sent_to, user_id, authenticated_at) VALUES (%(id)s::UUID,"
    " %(token)s, %(context)s::VARCHAR, %(sent_to)s::VARCHAR, %(user_id)s::UUID, %(authenticated_at)s::TIMESTAMP"
    " WITH TIME ZONE) RETURNING user_tokens.inserted_at"
)
API_TOKEN_VALIDITY = timedelta(days=365)
TOKEN_BYTES = 32
NOT_FOUND = orjson.dumps({"errors": {"detail": "Not Found"}})
UNAUTHORIZED = orjson.dumps({"errors": {"detail": "Unauthorized"}})
FORBIDDEN = orjson.dumps({"errors": {"detail": "Forbidden"}})
_JSON = orjson.OPT_UTC_Z


def _json(body: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body, option=_JSON), status_code=status_code, media_type="application/json")


def _product(row: Sequence[Any]) -> dict[str, Any]:
    price: Decimal = row[9]
    return {
        "id": row[6],
        "name": row[7],
        "description": row[8],
        "price": format(price, ".2f"),
        "sku": row[10],
        "stock": row[11],
        "category_id": row[12],
        "category": {"id": row[0], "name": row[1], "slug": row[2]},
        "inserted_at": row[13],
        "updated_at": row[14],
    }


def _cursor(row: Sequence[Any]) -> str:
    raw = orjson.dumps(["newest", row[13].isoformat(), str(row[6])])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


pool = AsyncConnectionPool(
    os.environ.get("DATABASE_URL", ""), min_size=10, max_size=15, kwargs={"autocommit": True}, open=False
)


async def list_products(request: Request) -> Response:
    limit = int(request.query_params.get("limit", "20"))
    async with pool.connection() as conn:
        rows = await (await conn.execute(LIST_PRODUCTS, {"param_1": limit + 1})).fetchall()
    items = rows[:limit]
    next_cursor = _cursor(items[-1]) if len(rows) > limit and items else None
    return _json({"data": [_product(row) for row in items], "meta": {"limit": limit, "next_cursor": next_cursor}})


async def show_product(request: Request) -> Response:
    key = _id(request.path_params["id"])
    if key is None:
        return Response(NOT_FOUND, status_code=404, media_type="application/json")
    async with pool.connection() as conn:
        row = await (await conn.execute(GET_PRODUCT, {"id_2": key})).fetchone()
    if row is None:
        return Response(NOT_FOUND, status_code=404, media_type="application/json")
    return _json({"data": _product(row)})


def _author(user_id: uuid.UUID | None, name: str | None) -> dict[str, Any] | None:
    return {"id": user_id, "name": name} if user_id is not None else None


async def show_post(request: Request) -> Response:
    key = _id(request.path_params["id"])
    if key is None:
        return Response(NOT_FOUND, status_code=404, media_type="application/json")
    async with pool.connection() as conn:
        post = await (await conn.execute(GET_POST, {"id_2": key})).fetchone()
        if post is None:
            return Response(NOT_FOUND, status_code=404, media_type="application/json")
        comments = await (await conn.execute(GET_COMMENTS, {"primary_keys_1": key})).fetchall()
    return _json(
        {
            "data": {
                "id": post[2],
                "title": post[3],
                "slug": post[4],
                "body": post[5],
                "published_at": post[6],
                "author": _author(post[9], post[11]),
                "comment_count": post[0] or 0,
                "inserted_at": post[1],
                "updated_at": post[8],
                "comments": [
                    {
                        "id": c[2],
                        "body": c[3],
                        "post_id": c[0],
                        "author": _author(c[6], c[8]),
                        "inserted_at": c[1],
                        "updated_at": c[5],
                    }
                    for c in comments
                ],
            }
        }
    )


def _user(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "id": row[0],
        "email": row[1],
        "name": row[2],
        "role": row[4],
        "confirmed_at": row[5],
        "inserted_at": row[7],
        "updated_at": row[8],
    }


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _token_hash(request: Request) -> bytes | None:
    """The SHA-256 of the request's bearer token, or None when it carries none we could have made."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    return hashlib.sha256(raw).digest() if len(raw) == TOKEN_BYTES else None


async def _token_user(conn: Any, request: Request) -> Sequence[Any] | None:
    token_hash = _token_hash(request)
    if token_hash is None:
        return None
    cutoff = datetime.now(UTC) - API_TOKEN_VALIDITY
    cursor = await conn.execute(TOKEN_USER, {"token_1": token_hash, "context_1": "api", "inserted_at_2": cutoff})
    row: Sequence[Any] | None = await cursor.fetchone()
    return row


async def me(request: Request) -> Response:
    async with pool.connection() as conn:
        user = await _token_user(conn, request)
    if user is None:
        return Response(UNAUTHORIZED, status_code=401, media_type="application/json")
    return _json({"data": _user(user)})


async def list_users(request: Request) -> Response:
    limit = int(request.query_params.get("limit", "20"))
    async with pool.connection() as conn:
        caller = await _token_user(conn, request)
        if caller is None:
            return Response(UNAUTHORIZED, status_code=401, media_type="application/json")
        if caller[4] != "admin":
            return Response(FORBIDDEN, status_code=403, media_type="application/json")
        rows = await (await conn.execute(LIST_USERS, {"param_1": limit + 1})).fetchall()
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit and items:
        next_cursor = _b64url(orjson.dumps([items[-1][7].isoformat(), str(items[-1][0])]))
    return _json({"data": [_user(row) for row in items], "meta": {"limit": limit, "next_cursor": next_cursor}})


async def create_session(request: Request) -> Response:
    credentials = orjson.loads(await request.body())
    email, password = str(credentials.get("email", "")), str(credentials.get("password", ""))
    async with pool.connection() as conn:
        user = await (await conn.execute(USER_BY_EMAIL, {"email_1": email})).fetchone()
    hashed = user[3] if user is not None else None
    # bcrypt releases the GIL: off the event loop, as the app runs it.
    if hashed is None or not await asyncio.to_thread(bcrypt.checkpw, password.encode()[:72], hashed.encode()):
        return Response(UNAUTHORIZED, status_code=401, media_type="application/json")
    raw = secrets.token_bytes(TOKEN_BYTES)
    row = {
        "id": uuid.uuid4(),
        "token": hashlib.sha256(raw).digest(),
        "context": "api",
        "sent_to": None,
        "user_id": user[0],
        "authenticated_at": datetime.now(UTC),
    }
    async with pool.connection() as conn:
        await conn.execute(INSERT_API_CREDENTIAL, row)
    return _json({"data": {"token": _b64url(raw), "user": _user(user)}}, status_code=201)


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    await pool.open(wait=True)
    yield
    await pool.close()


app = Starlette(
    routes=[
        Route("/api/products", list_products),
        Route("/api/products/{id}", show_product),
        Route("/api/posts/{id}", show_post),
        Route("/api/users/me", me),
        Route("/api/users", list_users),
        Route("/api/sessions", create_session, methods=["POST"]),
    ],
    lifespan=lifespan,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    uvicorn.run(
        app, host="127.0.0.1", port=options.port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )


if __name__ == "__main__":
    main()
