"""The public catalog pages: `/products` lists products with filters, search, sort and "Load more"
(`index.py`, the query string read by `browse.py`), `/products/{id}` shows one (`show.py`). Anyone
may see them, signed in or not; both are live (`catalog.PRODUCTS_TOPIC`). `router` holds their
routes, for the browser pipeline.

    GET  /products        the list (?q=&category=&min_price=&max_price=&sort=&cursor=&limit=)   product_index
    GET  /products/{id}   one product (404 for an unknown or malformed id)                        product_show

Each GET is also its page's live stream (`Accept: text/event-stream`).
"""

from __future__ import annotations

from fastapi import APIRouter

from my_app_web.live.product_live import index, show

router = APIRouter()
router.include_router(index.router)
router.include_router(show.router)

__all__ = ["router"]
