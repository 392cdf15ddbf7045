"""`/admin/categories`: every category in a live table (the seed's `CategoryLive.Index`), by name,
with the New and Edit modals and Delete.

The table is a `Stream`: a category deleted anywhere (this page, another admin's, the API, the CLI)
leaves every open page; any other change to the categories, or to the products (each row counts
its products), renders the list again: it stays in name order, with counts that are right, and
categories are few (one SELECT per open page and change). A category that still has products
cannot be deleted: the catalog refuses, and the page says so in a flash.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import catalog
from my_app.accounts import Scope
from my_app.errors import NotFoundError, ValidationError
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.flash import put_flash
from my_app_web.live import LivePage, Patch, Stream, form_params
from my_app_web.live.admin.category_live import form as category_form
from my_app_web.live.admin.category_live.form import MODAL_TEMPLATE, SLOT_ID
from my_app_web.live.admin.category_live.show import show_page
from my_app_web.live.admin.modal import AdminModal, return_to_of
from my_app_web.live.modals import errors_fragment, modal_page
from my_app_web.live.user_live.access import AdminScope
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.templating import path_for

router = APIRouter(prefix="/admin/categories", tags=["pages"], include_in_schema=False)


class CategoryIndex(LivePage):
    template = "admin/category_live/index.html"
    region_template = "admin/category_live/_categories.html"

    def __init__(self, request: Request, scope: Scope, *, modal: AdminModal | None = None) -> None:
        super().__init__(request)
        self.scope = scope
        self.modal = modal
        self.categories = Stream("categories")

    def topics(self) -> Sequence[str]:
        return [catalog.CATEGORIES_TOPIC, catalog.PRODUCTS_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        categories = await catalog.list_categories_with_product_counts(self.scope)
        self.categories.reset(category.id for category in categories)
        return {"categories": categories, "modal": self.modal, "page_title": _("Listing Categories")}

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        if message.event == "category_deleted":
            patch = self.categories.delete(str(message.payload.get("id", "")))
            return [patch] if patch is not None else []
        # A new or renamed category moves in the name order; a product changes a count.
        return await self.refresh()


async def index_page(request: Request, scope: Scope, modal: AdminModal | None, *, status_code: int = 200) -> Response:
    """The list with `modal` over it (or just the slot, for htmx; the stream, for its EventSource)."""
    return await modal_page(
        request,
        lambda shown: CategoryIndex(request, scope, modal=shown),
        modal,
        slot_id=SLOT_ID,
        modal_template=MODAL_TEMPLATE,
        live_url=path_for(request, "admin_category_index"),
        status_code=status_code,
    )


@router.get("", name="admin_category_index")
async def index(request: Request, scope: AdminScope) -> Response:
    return await index_page(request, scope, None)


@router.get("/new", name="admin_category_new")
async def new(request: Request, scope: AdminScope) -> Response:
    return await index_page(request, scope, category_form.new_category_modal(request))


@router.post("", name="admin_category_create", dependencies=[Depends(verify_csrf)])
async def create(request: Request, scope: AdminScope) -> Response:
    params = await form_params(request)
    try:
        await catalog.create_category(scope, params)
    except ValidationError as exc:
        modal = category_form.new_category_modal(request, params, exc.errors)
        return await index_page(request, scope, modal, status_code=422)
    put_flash(request, "info", _("Category created successfully"))
    return RedirectResponse(path_for(request, "admin_category_index"), status_code=303)


@router.post("/validate", name="admin_category_validate", dependencies=[Depends(verify_csrf)])
async def validate(request: Request, scope: AdminScope) -> HTMLResponse:
    errors = await category_form.category_errors(scope, None, await form_params(request))
    return errors_fragment(request, category_form.FORM_NAME, category_form.FIELDS, errors)


@router.get("/{category_id:uuid}/edit", name="admin_category_edit")
async def edit(request: Request, category_id: uuid.UUID, scope: AdminScope) -> Response:
    category = await catalog.get_category_or_404(scope, category_id)
    return await index_page(request, scope, category_form.edit_category_modal(request, category))


@router.post("/{category_id:uuid}", name="admin_category_update", dependencies=[Depends(verify_csrf)])
async def update(request: Request, category_id: uuid.UUID, scope: AdminScope) -> Response:
    params = await form_params(request)
    return_to = return_to_of(params)
    category = await catalog.get_category(scope, category_id)
    if category is None:
        return _gone(request)
    try:
        await catalog.update_category(scope, category, params)
    except NotFoundError:  # deleted meanwhile (another admin, another tab)
        return _gone(request)
    except ValidationError as exc:
        modal = category_form.edit_category_modal(request, category, params, exc.errors, return_to=return_to)
        if return_to == "show":
            return await show_page(request, scope, category, modal, status_code=422)
        return await index_page(request, scope, modal, status_code=422)
    put_flash(request, "info", _("Category updated successfully"))
    if return_to == "show":
        return RedirectResponse(path_for(request, "admin_category_show", category_id=category.id), status_code=303)
    return RedirectResponse(path_for(request, "admin_category_index"), status_code=303)


@router.post("/{category_id:uuid}/validate", name="admin_category_validate_edit", dependencies=[Depends(verify_csrf)])
async def validate_edit(request: Request, category_id: uuid.UUID, scope: AdminScope) -> HTMLResponse:
    category = await catalog.get_category_or_404(scope, category_id)
    errors = await category_form.category_errors(scope, category, await form_params(request))
    return errors_fragment(request, category_form.FORM_NAME, category_form.FIELDS, errors)


@router.post("/{category_id:uuid}/delete", name="admin_category_delete", dependencies=[Depends(verify_csrf)])
async def delete(request: Request, category_id: uuid.UUID, scope: AdminScope) -> RedirectResponse:
    category = await catalog.get_category(scope, category_id)
    try:
        if category is not None:
            await catalog.delete_category(scope, category)
    except NotFoundError:
        pass  # deleted meanwhile (another admin, another tab) is deleted all the same
    except ValidationError:
        # Its products would be left without a category: the catalog refuses, nothing is deleted.
        put_flash(request, "error", _("This category still has products. Move or delete them first."))
        return RedirectResponse(path_for(request, "admin_category_index"), status_code=303)
    put_flash(request, "info", _("Category deleted successfully"))
    return RedirectResponse(path_for(request, "admin_category_index"), status_code=303)


def _gone(request: Request) -> RedirectResponse:
    put_flash(request, "error", _("That category no longer exists."))
    return RedirectResponse(path_for(request, "admin_category_index"), status_code=303)
