"""Who may use the user pages: admins. Signed-in users who are not get 403; visitors are sent to
log in and come back here afterwards (`require_authenticated_user` remembers the path)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from my_app import accounts
from my_app.accounts import Role, Scope
from my_app.errors import ForbiddenError
from my_app_web.live.page import EVENT_STREAM
from my_app_web.plugs.auth import require_authenticated_user


async def require_admin(
    session: Annotated[accounts.Session, Depends(require_authenticated_user)],
) -> Scope:
    """The admin's scope; ForbiddenError (the 403 page) for anyone else signed in.

    Unlike `authorize_page`, which sends non-admins home with a flash, a user page answers 403 to
    them: the page exists, they may not see it. The page's live stream asks the same way.
    """
    if session.user.role != Role.ADMIN:
        raise ForbiddenError()
    return Scope.for_user(session.user)


AdminScope = Annotated[Scope, Depends(require_admin)]


def is_stream(request: Request) -> bool:
    """The page's own EventSource asking for its live stream (not a browser wanting the page)."""
    return EVENT_STREAM in request.headers.get("accept", "")


def hx_target(request: Request) -> str | None:
    """The id of the element an htmx request will swap (`HX-Target`), or None for a plain request."""
    if request.headers.get("hx-request") != "true":
        return None
    return request.headers.get("hx-target")
