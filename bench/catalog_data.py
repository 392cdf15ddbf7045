"""What the catalog benches seed: products in bulk (one INSERT … SELECT generate_series), an admin
with an API token, and a published post with comments (through the contexts, as the app writes them)."""

from __future__ import annotations

import uuid

import psycopg

from my_app import accounts, application, blog
from my_app.accounts import Scope
from my_app.config import Settings

CATEGORIES = 20
ADMIN_PASSWORD = "a long benchmark passphrase"  # noqa: S105 - a throwaway account in a scratch database

# Every 100th name has a comma and quotes (the CSV export quotes them); inserted_at grows with n,
# one second apart, so "newest first" and "oldest first" are the insertion order.
_PRODUCTS = """
INSERT INTO products (id, name, description, price, sku, stock, category_id, inserted_at, updated_at)
SELECT gen_random_uuid(),
       CASE WHEN n %% 100 = 0 THEN 'Tea, "special" no. ' || n ELSE 'Product ' || n END,
       'A fine bench thing, number ' || n,
       round((1 + (n * 7919) %% 100000 / 100.0)::numeric, 2),
       'BENCH-' || lpad(n::text, 9, '0'),
       n %% 500,
       (SELECT array_agg(id ORDER BY slug) FROM categories)[1 + n %% %(categories)s],
       now() - make_interval(secs => %(count)s - n),
       now() - make_interval(secs => %(count)s - n)
FROM generate_series(1, %(count)s) AS n
"""


def seed_products(url: str, count: int, *, categories: int = CATEGORIES) -> None:
    """`categories` categories and `count` products in one statement each, then ANALYZE."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO categories (id, name, slug, description)"
            " SELECT gen_random_uuid(), 'Category ' || n, 'category-' || lpad(n::text, 3, '0'), 'Bench things'"
            " FROM generate_series(1, %(categories)s) AS n",
            {"categories": categories},
        )
        conn.execute(_PRODUCTS, {"count": count, "categories": categories})
        conn.execute("ANALYZE categories, products")


async def admin_token(settings: Settings) -> str:
    """An admin's API token (`Authorization: Bearer …`)."""
    async with application.lifespan(settings, run_jobs=False):
        admin = await accounts.admin_create_user(
            Scope.for_system(),
            {"email": "bench-admin@example.com", "name": "Bench Admin", "password": ADMIN_PASSWORD, "role": "admin"},
        )
        return await accounts.create_api_token(admin)


async def post_with_comments(settings: Settings, comments: int) -> uuid.UUID:
    """A published post by one user with `comments` comments by another; its id."""
    async with application.lifespan(settings, run_jobs=False):
        system = Scope.for_system()
        author = await accounts.admin_create_user(
            system, {"email": "bench-author@example.com", "name": "Ada Author", "password": ADMIN_PASSWORD}
        )
        reader = await accounts.admin_create_user(
            system, {"email": "bench-reader@example.com", "name": "Rea Reader", "password": ADMIN_PASSWORD}
        )
        post = await blog.create_post(
            Scope.for_user(author),
            {
                "title": "A post to benchmark",
                "slug": "a-post-to-benchmark",
                "body": "Paragraphs of text. " * 50,
                "published_at": "2026-12-01T10:00:00Z",
            },
        )
        for n in range(comments):
            await blog.create_comment(Scope.for_user(reader), post, {"body": f"Comment number {n}: well said."})
        return post.id
