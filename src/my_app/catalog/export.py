"""Every product at once, for exports (the seed's `Repo.stream`).

A catalog can hold hundreds of thousands of products: they come through a server-side cursor in
batches (`repo.stream`), so the caller holds one batch at a time and memory stays flat however
large the catalog grows. Admins only: an export is the whole catalog, stock levels included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import Select, select
from sqlalchemy.orm import contains_eager

from my_app import repo
from my_app.accounts.scope import Scope
from my_app.catalog.product import Product
from my_app.errors import ForbiddenError


def stream_products(scope: Scope, *, batch_size: int = repo.STREAM_BATCH_SIZE) -> AsyncIterator[Product]:
    """Every product with its category, oldest first (then by id); admins only.

    Not a coroutine: it checks the scope when called, so a response can answer 403 before it
    starts streaming, and returns the iterator that reads `batch_size` rows per fetch.

    Examples:
        async for product in stream_products(admin_scope):
            writer.writerow([product.sku, product.category.slug, ...])
        stream_products(Scope.for_user(ada))  # ForbiddenError, raised at once
    """
    if not scope.admin:
        raise ForbiddenError()
    return repo.stream(_export_query(), batch_size=batch_size)


def _export_query() -> Select[Product]:
    # The (inserted_at, id) index walks the table in this order: no sort, the first row comes at once.
    return (
        select(Product)
        .join(Product.category)
        .options(contains_eager(Product.category))
        .order_by(Product.inserted_at, Product.id)
    )
