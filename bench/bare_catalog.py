"""The bare baseline of `catalog_api`: Starlette + psycopg (async pool) + orjson, no framework of ours.

    DATABASE_URL=... .venv/bin/python -m bench.bare_catalog --port 4010

The same SQL as the app's endpoints (captured from its SQLAlchemy statements, placeholders and
all), and the same JSON, for three reads: `GET /api/products?limit=N`, `GET /api/products/{id}` and
`GET /api/posts/{id}` (with its comments). Nothing else: no auth, no middleware, no validation
beyond what a malformed id needs, no access log. It is what Python itself can do for these reads
on the same driver, so `catalog_api` reports our figures as a fraction of it.
"""

from __future__ import annotations

import argparse
import base64
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

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
NOT_FOUND = orjson.dumps({"errors": {"detail": "Not Found"}})
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
