"""`/users/{id}`: one user (the seed's `UserLive.Show`), live: a change made anywhere shows here
and says so; when the user is deleted the page says so and goes back to the list with a flash.
`/users/{id}/show/edit` opens the Edit modal over it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from my_app import accounts
from my_app.accounts import Scope, User
from my_app.errors import NotFoundError
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.flash import put_flash
from my_app_web.live import LivePage, Patch
from my_app_web.live.modals import modal_page
from my_app_web.live.page import is_live_stream
from my_app_web.live.user_live import form as user_form
from my_app_web.live.user_live.access import AdminScope
from my_app_web.live.user_live.form import MODAL_TEMPLATE, SLOT_ID, UserModal
from my_app_web.templating import path_for

router = APIRouter(prefix="/users", tags=["pages"], include_in_schema=False)


class UserShow(LivePage):
    template = "user_live/show.html"
    region_template = "user_live/_show.html"

    def __init__(self, request: Request, scope: Scope, user: User, *, modal: UserModal | None = None) -> None:
        super().__init__(request)
        self.scope = scope
        self.user_id = user.id
        self.modal = modal
        self._loaded: User | None = user  # for the first render; later renders load it afresh
        self._notice: str | None = None

    def topics(self) -> Sequence[str]:
        return [accounts.USERS_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        user, self._loaded = self._loaded, None
        if user is None:
            user = await accounts.get_user(self.scope, self.user_id)
        notice, self._notice = self._notice, None
        return {
            # Not `user`: the root layout's navigation sets that name to the signed-in user.
            "shown_user": user,
            "user_id": self.user_id,
            "notice": notice,
            "modal": self.modal,
            "page_title": user.name if user is not None else _("User deleted"),
        }

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        if str(message.payload.get("id", "")) != str(self.user_id):
            return []
        if message.event == "user_updated":
            role = self.scope.user.role.value if self.scope.user is not None else "system"
            self._loaded = await self.shared(
                message, f"user:{role}", lambda: accounts.get_user(self.scope, self.user_id)
            )
            self._notice = _("This user was just changed; the page shows the new details.")
        elif message.event != "user_deleted":
            return []
        return await super().refresh()


async def show_page(
    request: Request, scope: Scope, user: User, modal: UserModal | None, *, status_code: int = 200
) -> Response:
    """The user's page with `modal` over it (or just the slot, for htmx; the stream, for its EventSource)."""
    return await modal_page(
        request,
        lambda shown: UserShow(request, scope, user, modal=shown),
        modal,
        slot_id=SLOT_ID,
        modal_template=MODAL_TEMPLATE,
        live_url=path_for(request, "user_show", user_id=user.id),
        status_code=status_code,
    )


async def _user_or_back_to_list(request: Request, scope: Scope, user_id: uuid.UUID) -> User | RedirectResponse:
    user = await accounts.get_user(scope, user_id)
    if user is not None:
        return user
    if is_live_stream(request):
        raise NotFoundError("user", user_id)  # the stream of a page whose user is gone: nothing to show
    put_flash(request, "error", _("That user no longer exists."))
    return RedirectResponse(path_for(request, "user_index"), status_code=303)


@router.get("/{user_id:uuid}", name="user_show")
async def show(request: Request, user_id: uuid.UUID, scope: AdminScope) -> Response:
    user = await _user_or_back_to_list(request, scope, user_id)
    if isinstance(user, Response):
        return user
    return await show_page(request, scope, user, None)


@router.get("/{user_id:uuid}/show/edit", name="user_show_edit")
async def edit(request: Request, user_id: uuid.UUID, scope: AdminScope) -> Response:
    user = await _user_or_back_to_list(request, scope, user_id)
    if isinstance(user, Response):
        return user
    modal = None if is_live_stream(request) else user_form.edit_user_modal(request, user, return_to="show")
    return await show_page(request, scope, user, modal)
