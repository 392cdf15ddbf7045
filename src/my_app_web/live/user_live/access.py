"""Who may use the user pages: admins (`authorize_page`: others signed in get 403; visitors are sent
to log in and come back here afterwards)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from my_app import accounts
from my_app.accounts import Role, Scope
from my_app_web.plugs.auth import authorize_page


async def require_admin(session: Annotated[accounts.Session, Depends(authorize_page(Role.ADMIN))]) -> Scope:
    """The admin's scope, for the context calls of the user pages."""
    return Scope.for_user(session.user)


AdminScope = Annotated[Scope, Depends(require_admin)]
