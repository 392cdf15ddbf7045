"""Who may use the catalog pages: anyone. The scope is the signed-in user's, or a visitor's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from my_app.accounts import Scope
from my_app_web.plugs.auth import current_user


async def public_scope(request: Request) -> Scope:
    """The caller's scope for the catalog's reads (the browser pipeline has fetched the user, if any)."""
    return Scope.for_user(current_user(request))


PublicScope = Annotated[Scope, Depends(public_scope)]
