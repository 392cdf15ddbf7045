"""The chat page: the official `phoenix` JS client (static/chat.js) on our own channels.

- `GET /chat` joins `room:lobby`; `GET /chat/rooms/{slug}` joins `room:<slug>`, for whoever may join
  it (`chat.can_join`: its members and admins; 404 for everyone else, as if there were no such room).
- `GET /chat/token` answers `{"token": ...}`: a fresh socket token for the session's user, which
  chat.js fetches when the socket is refused (its token expired while the page was open); 401 once
  the session is gone (chat.js then reloads the page, which goes to the log-in page).

The page carries its socket token in `<meta name="socket-token">`. It is minted from the browser
session's credential, like `GET /api/socket-token` does (`socket_token.sign`): logging out, or a
password change, refuses it and closes the sockets opened with it. Neither the page nor the token is
stored by a cache (`Cache-Control: no-store`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from my_app import accounts, chat
from my_app.accounts.scope import Scope
from my_app.config import Settings
from my_app.errors import NotFoundError
from my_app.gettext import gettext as _
from my_app_web.channels import socket_token
from my_app_web.channels.room_channel import MAX_BODY_LENGTH
from my_app_web.html import render
from my_app_web.plugs.auth import (
    LOG_IN_PATH,
    SESSION_TOKEN_KEY,
    CurrentSession,
    Redirect,
    require_authenticated_user,
)

router = APIRouter(prefix="/chat", tags=["pages"], include_in_schema=False)

SignedIn = Annotated[accounts.Session, Depends(require_authenticated_user)]
NO_STORE = {"cache-control": "no-store"}


async def _socket_token(request: Request) -> str | None:
    """A socket token bound to this browser session's credential; None when the session is gone."""
    token = request.session.get(SESSION_TOKEN_KEY)
    if not isinstance(token, str):
        return None
    credential = await accounts.get_credential(token, "session")
    if credential is None:
        return None
    settings: Settings = request.app.state.settings
    return socket_token.sign(settings, credential.user.id, credential.id)


async def _page(request: Request, session: accounts.Session, room: chat.Room | None) -> HTMLResponse:
    token = await _socket_token(request)
    if token is None:  # the session ended between the auth check and here: log in again
        raise Redirect(LOG_IN_PATH)
    response = render(
        request,
        "chat/index.html",
        page_title=room.name if room is not None else _("Chat"),
        socket_token=token,
        topic=f"room:{room.slug if room is not None else chat.LOBBY}",
        room=room,
        rooms=await chat.list_rooms_of(session.user),  # not every room an admin could join
        user=session.user,
        max_body_length=MAX_BODY_LENGTH,
    )
    response.headers.update(NO_STORE)
    return response


@router.get("", response_class=HTMLResponse, name="chat")
async def lobby(request: Request, session: SignedIn) -> HTMLResponse:
    """`room:lobby`, open to every signed-in user."""
    return await _page(request, session, None)


@router.get("/token", name="chat_token")
async def token(request: Request, session: CurrentSession) -> JSONResponse:
    """A fresh socket token for the signed-in browser, or 401 (JSON: chat.js asks, not a person)."""
    signed = await _socket_token(request) if session is not None else None
    if signed is None:
        return JSONResponse({"error": "unauthorized"}, status_code=401, headers=NO_STORE)
    return JSONResponse({"token": signed}, headers=NO_STORE)


@router.get("/rooms/{slug}", response_class=HTMLResponse, name="chat_room")
async def room(request: Request, slug: str, session: SignedIn) -> HTMLResponse:
    """`room:<slug>`, for the room's members and admins (the channel checks again at each join)."""
    found = await chat.get_room_by_slug(slug)
    if found is None or not await chat.can_join(Scope.for_user(session.user), slug):
        raise NotFoundError()
    return await _page(request, session, found)
