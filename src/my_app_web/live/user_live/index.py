"""`/users`: every user in a live table (the seed's `UserLive.Index`), with the New and Edit modals.

The table is a `Stream`: the page keeps the ids of the rows it shows, and a change announced on
`accounts.USERS_TOPIC` (from this page, another page, the API, the CLI) inserts, replaces or
removes one row in every open page. The first `PAGE_SIZE` users are shown, oldest first; "Show
more" opens the page with more of them (the URL says how many, so the page's stream tracks the
same rows). A user created while the list is cut short is one of those not shown yet.

The modal (New, Edit) sits in its own slot below the live region: the stream never touches it.
With JavaScript the New and Edit links fetch just the slot (htmx, URL pushed so Back closes it);
without, `/users/new` is the whole list page with the modal open. Saving is POST → 303 → GET.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import accounts
from my_app.accounts import Role, Scope, User
from my_app.errors import NotFoundError, ValidationError
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.flash import put_flash
from my_app_web.live import LivePage, Patch, Stream, form_params, patches
from my_app_web.live.modals import errors_fragment, modal_page
from my_app_web.live.page import REGION_ID, is_live_stream
from my_app_web.live.user_live import form as user_form
from my_app_web.live.user_live.access import AdminScope
from my_app_web.live.user_live.form import MODAL_TEMPLATE, SLOT_ID, UserModal
from my_app_web.live.user_live.show import show_page
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.templating import path_for

router = APIRouter(prefix="/users", tags=["pages"], include_in_schema=False)

PAGE_SIZE = 50
MAX_SHOWN = 1000
# paginate_users gives at most this many a query.
_BATCH = 100
ROW_TEMPLATE = "user_live/_row.html"


class UserIndex(LivePage):
    template = "user_live/index.html"
    region_template = "user_live/_users.html"

    def __init__(self, request: Request, scope: Scope, *, limit: int = PAGE_SIZE, modal: UserModal | None = None):
        super().__init__(request)
        self.scope = scope
        self.limit = limit
        self.modal = modal
        self.users = Stream("users")
        self.complete = True  # every user is shown: a new one belongs at the end of the list
        self.revoked = False  # the viewer is no longer an admin: the page stops showing changes

    def topics(self) -> Sequence[str]:
        return [accounts.USERS_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        users, more = await first_users(self.scope, self.limit)
        self.users.reset(user.id for user in users)
        self.complete = not more
        more_url = path_for(self.request, "user_index") + f"?limit={self.limit + PAGE_SIZE}" if more else None
        return {"users": users, "more_url": more_url, "modal": self.modal, "page_title": _("Listing Users")}

    async def refresh(self) -> list[Patch]:
        if self.revoked:
            return [self._revoked()]
        return await super().refresh()

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        return [patch for patch in await self._patches(message) if patch is not None]

    async def _patches(self, message: Message) -> list[Patch | None]:
        user_id = str(message.payload.get("id", ""))
        viewer = self.scope.user_id is not None and str(self.scope.user_id) == user_id
        if self.revoked:
            return []
        if message.event == "user_deleted":
            return [self.users.delete(user_id)]
        if message.event == "user_created" and not self.complete and user_id not in self.users:
            return []  # beyond the rows shown: "Show more" finds it
        if message.event == "user_updated" and user_id not in self.users and not viewer:
            return []  # not on this page: no query
        if message.event not in ("user_created", "user_updated"):
            return []
        # One query per message for all the pages of this node; what an admin may see is the same for all.
        role = self.scope.user.role.value if self.scope.user is not None else "system"
        user = await self.shared(message, f"user:{role}", lambda: accounts.get_user(self.scope, user_id))
        if user is None:
            return [self.users.delete(user_id)]
        if viewer and user.role != Role.ADMIN:
            self.revoked = True
            return [self._revoked()]
        row = self.render_macro(ROW_TEMPLATE, "user_row", user)
        if message.event == "user_created":
            return [self.users.insert(user.id, row)]
        return [self.users.update(user.id, row)]

    def _revoked(self) -> Patch:
        return patches.inner(REGION_ID, self.render_macro(ROW_TEMPLATE, "revoked"))


async def first_users(scope: Scope, limit: int) -> tuple[list[User], bool]:
    """The first `limit` users, oldest first, and whether there are more."""
    users: list[User] = []
    cursor: str | None = None
    while True:
        page = await accounts.paginate_users(scope, limit=min(_BATCH, limit - len(users)), cursor=cursor)
        users.extend(page.items)
        cursor = page.next_cursor
        if cursor is None or len(users) >= limit:
            return users, cursor is not None


async def index_page(
    request: Request, scope: Scope, modal: UserModal | None, *, limit: int = PAGE_SIZE, status_code: int = 200
) -> Response:
    """The list page with `modal` open over it (or just the slot, for htmx; the stream, for its EventSource)."""
    return await modal_page(
        request,
        lambda shown: UserIndex(request, scope, limit=limit, modal=shown),
        modal,
        slot_id=SLOT_ID,
        modal_template=MODAL_TEMPLATE,
        live_url=_list_url(request, limit),
        status_code=status_code,
    )


Limit = Annotated[int, Query(ge=1, le=MAX_SHOWN)]


@router.get("", name="user_index")
async def index(request: Request, scope: AdminScope, limit: Limit = PAGE_SIZE) -> Response:
    return await index_page(request, scope, None, limit=limit)


@router.get("/new", name="user_new")
async def new(request: Request, scope: AdminScope) -> Response:
    modal = None if is_live_stream(request) else user_form.new_user_modal(request, scope)
    return await index_page(request, scope, modal)


@router.post("", name="user_create", dependencies=[Depends(verify_csrf)])
async def create(request: Request, scope: AdminScope) -> Response:
    params = await form_params(request)
    try:
        await accounts.admin_create_user(scope, params)
    except ValidationError as exc:
        modal = user_form.new_user_modal(request, scope, params, exc.errors)
        return await index_page(request, scope, modal, status_code=422)
    put_flash(request, "info", _("User created successfully"))
    return RedirectResponse(path_for(request, "user_index"), status_code=303)


@router.post("/validate", name="user_validate", dependencies=[Depends(verify_csrf)])
async def validate(request: Request, scope: AdminScope) -> HTMLResponse:
    errors = user_form.new_user_errors(scope, await form_params(request))
    return errors_fragment(request, user_form.FORM_NAME, user_form.NEW_FIELDS, errors)


@router.get("/{user_id:uuid}/edit", name="user_edit")
async def edit(request: Request, user_id: uuid.UUID, scope: AdminScope) -> Response:
    user = await accounts.get_user_or_404(scope, user_id)
    modal = None if is_live_stream(request) else user_form.edit_user_modal(request, user)
    return await index_page(request, scope, modal)


@router.post("/{user_id:uuid}", name="user_update", dependencies=[Depends(verify_csrf)])
async def update(request: Request, user_id: uuid.UUID, scope: AdminScope) -> Response:
    params = await form_params(request)
    return_to = user_form.return_to_of(params)
    params.pop(user_form.RETURN_FIELD, None)
    user = await accounts.get_user(scope, user_id)
    if user is None:
        return _gone(request)
    try:
        # Blank fields are refused by the update itself ("can't be blank").
        await accounts.update_user(scope, user, params)
    except NotFoundError:  # deleted meanwhile (another admin, another tab)
        return _gone(request)
    except ValidationError as exc:
        modal = user_form.edit_user_modal(request, user, params, exc.errors, return_to=return_to)
        if return_to == "show":
            return await show_page(request, scope, user, modal, status_code=422)
        return await index_page(request, scope, modal, status_code=422)
    put_flash(request, "info", _("User updated successfully"))
    target = path_for(request, "user_show", user_id=user.id) if return_to == "show" else path_for(request, "user_index")
    return RedirectResponse(target, status_code=303)


@router.post("/{user_id:uuid}/validate", name="user_validate_edit", dependencies=[Depends(verify_csrf)])
async def validate_edit(request: Request, user_id: uuid.UUID, scope: AdminScope) -> HTMLResponse:
    user = await accounts.get_user_or_404(scope, user_id)
    errors = user_form.edit_user_errors(scope, user, await form_params(request))
    return errors_fragment(request, user_form.FORM_NAME, user_form.EDIT_FIELDS, errors)


@router.post("/{user_id:uuid}/delete", name="user_delete", dependencies=[Depends(verify_csrf)])
async def delete(request: Request, user_id: uuid.UUID, scope: AdminScope) -> RedirectResponse:
    user = await accounts.get_user(scope, user_id)
    if user is not None:
        await accounts.delete_user(scope, user)
    # Deleted already (another admin, another tab) is deleted all the same.
    put_flash(request, "info", _("User deleted successfully"))
    return RedirectResponse(path_for(request, "user_index"), status_code=303)


def _gone(request: Request) -> RedirectResponse:
    put_flash(request, "error", _("That user no longer exists."))
    return RedirectResponse(path_for(request, "user_index"), status_code=303)


def _list_url(request: Request, limit: int) -> str:
    url = path_for(request, "user_index")
    return url if limit == PAGE_SIZE else f"{url}?limit={limit}"
