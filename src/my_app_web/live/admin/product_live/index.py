"""`/admin/products`: the products in a live table (the seed's `ProductLive.Index`), newest first,
with the New and Edit modals and Delete.

The list is read by keyset pages (`catalog.list_products`, newest first): the first `PAGE_SIZE`
products, and "Show more" opens the page with more (the URL says how many, so the page's stream
tracks the same rows). The table is a `Stream`: a change announced on `catalog.PRODUCTS_TOPIC`
(this page, another admin's, the API) inserts a new product at the top, replaces or removes one
row, in every open page. A category renamed elsewhere re-renders the list (its column changes).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import catalog
from my_app.accounts import Scope
from my_app.catalog import Product
from my_app.errors import NotFoundError, ValidationError
from my_app.gettext import gettext as _
from my_app.pagination import MAX_LIMIT
from my_app.pubsub import Message
from my_app_web import product_csv
from my_app_web.flash import put_flash
from my_app_web.live import LivePage, Patch, Stream, form_params, is_live_stream
from my_app_web.live.admin.modal import AdminModal, return_to_of
from my_app_web.live.admin.product_live import form as product_form
from my_app_web.live.admin.product_live.form import MODAL_TEMPLATE, SLOT_ID
from my_app_web.live.admin.product_live.show import show_page
from my_app_web.live.modals import errors_fragment, modal_page
from my_app_web.live.user_live.access import AdminScope
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.templating import path_for

router = APIRouter(prefix="/admin/products", tags=["pages"], include_in_schema=False)

PAGE_SIZE = 50
MAX_SHOWN = 1000
ROW_TEMPLATE = "admin/product_live/_row.html"
# Changes to categories that show in the products' category column.
_CATEGORY_CHANGES = ("category_updated", "category_deleted")


class ProductIndex(LivePage):
    template = "admin/product_live/index.html"
    region_template = "admin/product_live/_products.html"

    def __init__(
        self, request: Request, scope: Scope, *, limit: int = PAGE_SIZE, modal: AdminModal | None = None
    ) -> None:
        super().__init__(request)
        self.scope = scope
        self.limit = limit
        self.modal = modal
        self.products = Stream("products")

    def topics(self) -> Sequence[str]:
        return [catalog.PRODUCTS_TOPIC, catalog.CATEGORIES_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        products, more = await newest_products(self.scope, self.limit)
        self.products.reset(product.id for product in products)
        more_url = path_for(self.request, "admin_product_index") + f"?limit={self.limit + PAGE_SIZE}" if more else None
        return {"products": products, "more_url": more_url, "modal": self.modal, "page_title": _("Listing Products")}

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        if message.event in _CATEGORY_CHANGES:
            return await self.refresh() if len(self.products) else []
        product_id = str(message.payload.get("id", ""))
        if message.event == "product_deleted":
            patch = self.products.delete(product_id)
            return [patch] if patch is not None else []
        if message.event == "product_updated" and product_id not in self.products:
            return []  # not on this page: no query
        if message.event not in ("product_created", "product_updated"):
            return []
        # Public data: one query per message for all the open pages of this node.
        product = await self.shared(message, "product", lambda: catalog.get_product(self.scope, product_id))
        if product is None:
            patch = self.products.delete(product_id)
            return [patch] if patch is not None else []
        row = self.render_macro(ROW_TEMPLATE, "product_row", product)
        return [self.products.insert(product.id, row, at=0)]  # newest first: a new product goes on top


async def newest_products(scope: Scope, limit: int) -> tuple[list[Product], bool]:
    """The newest `limit` products (keyset pages of the catalog), and whether there are more."""
    products: list[Product] = []
    cursor: str | None = None
    while True:
        page = await catalog.list_products(scope, {"limit": min(MAX_LIMIT, limit - len(products)), "cursor": cursor})
        products.extend(page.items)
        cursor = page.next_cursor
        if cursor is None or len(products) >= limit:
            return products, cursor is not None


async def index_page(
    request: Request, scope: Scope, modal: AdminModal | None, *, limit: int = PAGE_SIZE, status_code: int = 200
) -> Response:
    """The list with `modal` over it (or just the slot, for htmx; the stream, for its EventSource)."""
    url = path_for(request, "admin_product_index")
    return await modal_page(
        request,
        lambda shown: ProductIndex(request, scope, limit=limit, modal=shown),
        modal,
        slot_id=SLOT_ID,
        modal_template=MODAL_TEMPLATE,
        live_url=url if limit == PAGE_SIZE else f"{url}?limit={limit}",
        status_code=status_code,
    )


Limit = Annotated[int, Query(ge=1, le=MAX_SHOWN)]


@router.get("/export.csv", name="admin_product_export")
async def export(scope: AdminScope) -> product_csv.CSVResponse:
    """Every product as CSV, streamed (the API's `GET /api/products/export.csv`, for the browser)."""
    return product_csv.download(catalog.stream_products(scope))


@router.get("", name="admin_product_index")
async def index(request: Request, scope: AdminScope, limit: Limit = PAGE_SIZE) -> Response:
    return await index_page(request, scope, None, limit=limit)


@router.get("/new", name="admin_product_new")
async def new(request: Request, scope: AdminScope) -> Response:
    modal = None if is_live_stream(request) else await product_form.new_product_modal(request, scope)
    return await index_page(request, scope, modal)


@router.post("", name="admin_product_create", dependencies=[Depends(verify_csrf)])
async def create(request: Request, scope: AdminScope) -> Response:
    params = await form_params(request)
    try:
        await catalog.create_product(scope, product_form.product_params(params))
    except ValidationError as exc:
        modal = await product_form.new_product_modal(request, scope, params, exc.errors)
        return await index_page(request, scope, modal, status_code=422)
    put_flash(request, "info", _("Product created successfully"))
    return RedirectResponse(path_for(request, "admin_product_index"), status_code=303)


@router.post("/validate", name="admin_product_validate", dependencies=[Depends(verify_csrf)])
async def validate(request: Request, scope: AdminScope) -> HTMLResponse:
    errors = await product_form.product_errors(scope, None, await form_params(request))
    return errors_fragment(request, product_form.FORM_NAME, product_form.FIELDS, errors)


@router.get("/{product_id:uuid}/edit", name="admin_product_edit")
async def edit(request: Request, product_id: uuid.UUID, scope: AdminScope) -> Response:
    product = await catalog.get_product_or_404(scope, product_id)
    modal = None if is_live_stream(request) else await product_form.edit_product_modal(request, scope, product)
    return await index_page(request, scope, modal)


@router.post("/{product_id:uuid}", name="admin_product_update", dependencies=[Depends(verify_csrf)])
async def update(request: Request, product_id: uuid.UUID, scope: AdminScope) -> Response:
    params = await form_params(request)
    return_to = return_to_of(params)
    product = await catalog.get_product(scope, product_id)
    if product is None:
        return _gone(request)
    try:
        await catalog.update_product(scope, product, product_form.product_params(params))
    except NotFoundError:  # deleted meanwhile (another admin, another tab)
        return _gone(request)
    except ValidationError as exc:
        modal = await product_form.edit_product_modal(request, scope, product, params, exc.errors, return_to=return_to)
        if return_to == "show":
            return await show_page(request, scope, product, modal, status_code=422)
        return await index_page(request, scope, modal, status_code=422)
    put_flash(request, "info", _("Product updated successfully"))
    if return_to == "show":
        return RedirectResponse(path_for(request, "admin_product_show", product_id=product.id), status_code=303)
    return RedirectResponse(path_for(request, "admin_product_index"), status_code=303)


@router.post("/{product_id:uuid}/validate", name="admin_product_validate_edit", dependencies=[Depends(verify_csrf)])
async def validate_edit(request: Request, product_id: uuid.UUID, scope: AdminScope) -> HTMLResponse:
    product = await catalog.get_product_or_404(scope, product_id)
    errors = await product_form.product_errors(scope, product, await form_params(request))
    return errors_fragment(request, product_form.FORM_NAME, product_form.FIELDS, errors)


@router.post("/{product_id:uuid}/delete", name="admin_product_delete", dependencies=[Depends(verify_csrf)])
async def delete(request: Request, product_id: uuid.UUID, scope: AdminScope) -> RedirectResponse:
    product = await catalog.get_product(scope, product_id)
    try:
        if product is not None:
            await catalog.delete_product(scope, product)
    except NotFoundError:
        pass  # deleted meanwhile (another admin, another tab) is deleted all the same
    put_flash(request, "info", _("Product deleted successfully"))
    return RedirectResponse(path_for(request, "admin_product_index"), status_code=303)


def _gone(request: Request) -> RedirectResponse:
    put_flash(request, "error", _("That product no longer exists."))
    return RedirectResponse(path_for(request, "admin_product_index"), status_code=303)
