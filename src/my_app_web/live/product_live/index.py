"""`/products`: the public catalog (anyone, signed in or not), filtered, searched, sorted and paged
by its query string (`browse.py`), and live.

The cards are a `Stream`: a change announced on `catalog.PRODUCTS_TOPIC` (an admin's page, the
API, the CLI) touches only what it must, and costs one query per message for all the open pages
of a node (`shared`), never one per page or per card:

- `product_deleted`: its card goes (no query);
- `product_updated`: a card shown is re-rendered in place, or goes when the product no longer
  matches the page's category or price range (it stays where it was: the order is the one the
  visitor loaded);
- `product_created`: it appears first on a page that starts at the newest product when it matches
  the page's category and price range; a page with a text query, another order or a cursor says
  nothing (reloading, or "Load more", finds it).

A change on `catalog.CATEGORIES_TOPIC` (rare: an admin renames one) re-renders the region.

Search as you type, the sort and the prices are a GET form: with htmx it swaps the live part of
the page (`[data-live]`, whose stream reopens at the new address) and pushes the URL; without
JavaScript it is an ordinary GET. "Load more" asks for the same list with a larger `limit`;
without JavaScript it is a link to the next page (`cursor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from my_app import catalog
from my_app.accounts import Scope
from my_app.config import Settings
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.live import LivePage, Patch, Stream, is_htmx, live
from my_app_web.live.product_live.access import PublicScope
from my_app_web.live.product_live.browse import ProductQuery, browse, matches
from my_app_web.templating import path_for

router = APIRouter(prefix="/products", tags=["pages"], include_in_schema=False)

CARD_TEMPLATE = "product_live/_card.html"


class ProductIndex(LivePage):
    template = "product_live/index.html"
    region_template = "product_live/_products.html"

    def __init__(self, request: Request, scope: Scope, query: ProductQuery) -> None:
        super().__init__(request)
        self.scope = scope
        self.query = query
        self.products = Stream("products")
        # The filters the list was read with (a few small values: an open page keeps no products).
        self.filters: dict[str, Any] = {}

    def topics(self) -> Sequence[str]:
        return [catalog.PRODUCTS_TOPIC, catalog.CATEGORIES_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        categories = await catalog.list_categories(self.scope)
        listing = await browse(self.scope, self.query, categories)
        self.filters = listing.filters
        self.products.reset(product.id for product in listing.products)
        path = path_for(self.request, "product_index")
        more_url = next_url = None
        if listing.next_cursor is not None:
            more_url = self.query.url(path, limit=str(listing.shown + self.query.page_size))
            next_url = self.query.url(path, cursor=listing.next_cursor)
        return {
            "query": self.query,
            "listing": listing,
            "categories": categories,
            "products_path": path,
            "more_url": more_url,
            "next_url": next_url,
            "currency": _currency(self.request),
            "page_title": listing.category.name if listing.category is not None else _("Products"),
        }

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        if message.topic == catalog.CATEGORIES_TOPIC:
            return await self.refresh()
        product_id = str(message.payload.get("id", ""))
        if message.event == "product_deleted":
            return [patch for patch in [self.products.delete(product_id)] if patch is not None]
        if message.event == "product_updated" and product_id not in self.products:
            return []  # not on this page: no query
        if message.event == "product_created" and not self._takes_new_products():
            return []
        if message.event not in ("product_created", "product_updated"):
            return []
        # One query per message for all the pages of this node: a product reads the same for everyone.
        product = await self.shared(message, "product", lambda: catalog.get_product(self.scope, product_id))
        if product is None or not matches(self.filters, product):
            return [patch for patch in [self.products.delete(product_id)] if patch is not None]
        card = self.render_macro(CARD_TEMPLATE, "product_card", product, _currency(self.request))
        if message.event == "product_created":
            return [self.products.insert(product.id, card, at=0)]
        return [patch for patch in [self.products.update(product.id, card)] if patch is not None]

    def _takes_new_products(self) -> bool:
        """A new product belongs at the top of this page: newest first, from the start, no text query."""
        return self.filters.get("sort") == "newest" and not {"cursor", "q"} & self.filters.keys()


def _currency(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.catalog_currency


def product_query(request: Request) -> ProductQuery:
    settings: Settings = request.app.state.settings
    return ProductQuery.parse(request.query_params, settings.catalog_page_size)


@router.get("", name="product_index")
async def index(request: Request, scope: PublicScope) -> Response:
    query = product_query(request)
    # The page's address, tidy: the filter form sends its empty fields and the default sort too.
    address = query.url(path_for(request, "product_index"))
    response = await live(request, ProductIndex(request, scope, query), live_url=address)
    if is_htmx(request):
        response.headers["hx-push-url"] = address
    return response
