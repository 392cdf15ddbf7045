"""`/admin/categories/{id}`: one category (the seed's `CategoryLive.Show`), live: a change made
anywhere shows here and says so; when it is deleted the page says so and goes back to the list.
`/admin/categories/{id}/show/edit` opens the Edit modal over it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from my_app import catalog
from my_app.accounts import Scope
from my_app.catalog import Category
from my_app.errors import NotFoundError
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.flash import put_flash
from my_app_web.live import LivePage, Patch, is_live_stream
from my_app_web.live.admin.category_live import form as category_form
from my_app_web.live.admin.category_live.form import MODAL_TEMPLATE, SLOT_ID
from my_app_web.live.admin.modal import AdminModal
from my_app_web.live.modals import modal_page
from my_app_web.live.user_live.access import AdminScope
from my_app_web.templating import path_for

router = APIRouter(prefix="/admin/categories", tags=["pages"], include_in_schema=False)


class CategoryShow(LivePage):
    template = "admin/category_live/show.html"
    region_template = "admin/category_live/_show.html"

    def __init__(self, request: Request, scope: Scope, category: Category, *, modal: AdminModal | None = None) -> None:
        super().__init__(request)
        self.scope = scope
        self.category_id = category.id
        self.modal = modal
        self._loaded: Category | None = category  # for the first render; later renders load it afresh
        self._notice: str | None = None

    def topics(self) -> Sequence[str]:
        return [catalog.CATEGORIES_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        category, self._loaded = self._loaded, None
        if category is None:
            category = await catalog.get_category(self.scope, self.category_id)
        notice, self._notice = self._notice, None
        return {
            "category": category,
            "category_id": self.category_id,
            "notice": notice,
            "modal": self.modal,
            "page_title": category.name if category is not None else _("Category deleted"),
        }

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        if str(message.payload.get("id", "")) != str(self.category_id):
            return []
        if message.event == "category_updated":
            self._loaded = await self.shared(
                message, "category", lambda: catalog.get_category(self.scope, self.category_id)
            )
            self._notice = _("This category was just changed; the page shows the new details.")
        elif message.event != "category_deleted":
            return []
        return await super().refresh()


async def show_page(
    request: Request, scope: Scope, category: Category, modal: AdminModal | None, *, status_code: int = 200
) -> Response:
    """The category's page with `modal` over it (or just the slot, for htmx; the stream, for its EventSource)."""
    return await modal_page(
        request,
        lambda shown: CategoryShow(request, scope, category, modal=shown),
        modal,
        slot_id=SLOT_ID,
        modal_template=MODAL_TEMPLATE,
        live_url=path_for(request, "admin_category_show", category_id=category.id),
        status_code=status_code,
    )


async def _category_or_back_to_list(request: Request, scope: Scope, category_id: uuid.UUID) -> Category | Response:
    category = await catalog.get_category(scope, category_id)
    if category is not None:
        return category
    if is_live_stream(request):
        raise NotFoundError("category", category_id)  # the stream of a page whose category is gone
    put_flash(request, "error", _("That category no longer exists."))
    return RedirectResponse(path_for(request, "admin_category_index"), status_code=303)


@router.get("/{category_id:uuid}", name="admin_category_show")
async def show(request: Request, category_id: uuid.UUID, scope: AdminScope) -> Response:
    category = await _category_or_back_to_list(request, scope, category_id)
    if isinstance(category, Response):
        return category
    return await show_page(request, scope, category, None)


@router.get("/{category_id:uuid}/show/edit", name="admin_category_show_edit")
async def edit(request: Request, category_id: uuid.UUID, scope: AdminScope) -> Response:
    category = await _category_or_back_to_list(request, scope, category_id)
    if isinstance(category, Response):
        return category
    modal = category_form.edit_category_modal(request, category, return_to="show")
    return await show_page(request, scope, category, modal)
