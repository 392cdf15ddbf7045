"""Who is reading or writing on the blog pages: anyone reads (`ReaderScope`: a visitor's scope has
no user); writing needs a signed-in user (`WriterScope`: visitors are sent to log in and come back
here afterwards). What each may do is decided by the blog context, never here."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from my_app.accounts import Scope
from my_app_web.plugs.auth import CurrentSession, UserScope


async def reader_scope(session: CurrentSession) -> Scope:
    """The reader's scope: the signed-in user, or a visitor (no user)."""
    return Scope.for_user(session.user if session is not None else None)


ReaderScope = Annotated[Scope, Depends(reader_scope)]
# Posts and comments are written as the caller: the signed-in user's scope.
WriterScope = UserScope
