"""`/products/{id}`: one product, live: a change made anywhere (an admin's page, the API, the CLI)
shows here and says so; when the product is deleted the page says so and links back to the list.
An unknown or malformed id is the 404 page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from my_app import catalog
from my_app.accounts import Scope
from my_app.catalog import Product
from my_app.config import Settings
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.live import LivePage, Patch, live
from my_app_web.live.product_live.access import PublicScope

router = APIRouter(prefix="/products", tags=["pages"], include_in_schema=False)


class ProductShow(LivePage):
    template = "product_live/show.html"
    region_template = "product_live/_show.html"

    def __init__(self, request: Request, scope: Scope, product: Product) -> None:
        super().__init__(request)
        self.scope = scope
        self.product_id = product.id
        self.category_id = product.category_id
        self._loaded: Product | None = product  # for the first render; later renders load it afresh
        self._notice: str | None = None

    def topics(self) -> Sequence[str]:
        return [catalog.PRODUCTS_TOPIC, catalog.CATEGORIES_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        product, self._loaded = self._loaded, None
        if product is None:
            product = await catalog.get_product(self.scope, self.product_id)
        if product is not None:
            self.category_id = product.category_id
        notice, self._notice = self._notice, None
        settings: Settings = self.request.app.state.settings
        return {
            "product": product,
            "notice": notice,
            "currency": settings.catalog_currency,
            "page_title": product.name if product is not None else _("Product deleted"),
        }

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        if message.topic == catalog.CATEGORIES_TOPIC:
            # Its category renamed: the new name shows.
            same = str(message.payload.get("id", "")) == str(self.category_id)
            return await self.refresh() if same and message.event == "category_updated" else []
        if str(message.payload.get("id", "")) != str(self.product_id):
            return []
        if message.event == "product_updated":
            # One query per message for all the pages of this node showing the product.
            self._loaded = await self.shared(
                message, "product", lambda: catalog.get_product(self.scope, self.product_id)
            )
            self._notice = _("This product was just changed; the page shows the new details.")
        elif message.event != "product_deleted":
            return []
        return await self.refresh()


@router.get("/{product_id}", name="product_show")
async def show(request: Request, product_id: str, scope: PublicScope) -> Response:
    # A malformed id is a 404 like an unknown one (the catalog parses it), never a 422.
    product = await catalog.get_product_or_404(scope, product_id)
    return await live(request, ProductShow(request, scope, product))
