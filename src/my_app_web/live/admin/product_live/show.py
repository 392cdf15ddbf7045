"""`/admin/products/{id}`: one product (the seed's `ProductLive.Show`), live: a change made
anywhere shows here and says so; when it is deleted the page says so and goes back to the list.
`/admin/products/{id}/show/edit` opens the Edit modal over it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from my_app import catalog
from my_app.accounts import Scope
from my_app.catalog import Product
from my_app.errors import NotFoundError
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.flash import put_flash
from my_app_web.live import LivePage, Patch, is_live_stream
from my_app_web.live.admin.modal import AdminModal
from my_app_web.live.admin.product_live import form as product_form
from my_app_web.live.admin.product_live.form import MODAL_TEMPLATE, SLOT_ID
from my_app_web.live.modals import modal_page
from my_app_web.live.user_live.access import AdminScope
from my_app_web.templating import path_for

router = APIRouter(prefix="/admin/products", tags=["pages"], include_in_schema=False)


class ProductShow(LivePage):
    template = "admin/product_live/show.html"
    region_template = "admin/product_live/_show.html"

    def __init__(self, request: Request, scope: Scope, product: Product, *, modal: AdminModal | None = None) -> None:
        super().__init__(request)
        self.scope = scope
        self.product_id = product.id
        self.modal = modal
        self._loaded: Product | None = product  # for the first render; later renders load it afresh
        self._notice: str | None = None

    def topics(self) -> Sequence[str]:
        return [catalog.PRODUCTS_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        product, self._loaded = self._loaded, None
        if product is None:
            product = await catalog.get_product(self.scope, self.product_id)
        notice, self._notice = self._notice, None
        return {
            "product": product,
            "product_id": self.product_id,
            "notice": notice,
            "modal": self.modal,
            "page_title": product.name if product is not None else _("Product deleted"),
        }

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        if str(message.payload.get("id", "")) != str(self.product_id):
            return []
        if message.event == "product_updated":
            self._loaded = await self.shared(
                message, "product", lambda: catalog.get_product(self.scope, self.product_id)
            )
            self._notice = _("This product was just changed; the page shows the new details.")
        elif message.event != "product_deleted":
            return []
        return await super().refresh()


async def show_page(
    request: Request, scope: Scope, product: Product, modal: AdminModal | None, *, status_code: int = 200
) -> Response:
    """The product's page with `modal` over it (or just the slot, for htmx; the stream, for its EventSource)."""
    return await modal_page(
        request,
        lambda shown: ProductShow(request, scope, product, modal=shown),
        modal,
        slot_id=SLOT_ID,
        modal_template=MODAL_TEMPLATE,
        live_url=path_for(request, "admin_product_show", product_id=product.id),
        status_code=status_code,
    )


async def _product_or_back_to_list(request: Request, scope: Scope, product_id: uuid.UUID) -> Product | Response:
    product = await catalog.get_product(scope, product_id)
    if product is not None:
        return product
    if is_live_stream(request):
        raise NotFoundError("product", product_id)  # the stream of a page whose product is gone
    put_flash(request, "error", _("That product no longer exists."))
    return RedirectResponse(path_for(request, "admin_product_index"), status_code=303)


@router.get("/{product_id:uuid}", name="admin_product_show")
async def show(request: Request, product_id: uuid.UUID, scope: AdminScope) -> Response:
    product = await _product_or_back_to_list(request, scope, product_id)
    if isinstance(product, Response):
        return product
    return await show_page(request, scope, product, None)


@router.get("/{product_id:uuid}/show/edit", name="admin_product_show_edit")
async def edit(request: Request, product_id: uuid.UUID, scope: AdminScope) -> Response:
    product = await _product_or_back_to_list(request, scope, product_id)
    if isinstance(product, Response):
        return product
    modal = await product_form.edit_product_modal(request, scope, product, return_to="show")
    return await show_page(request, scope, product, modal)
