"""`GET /api/socket-token`: the signed token a client needs to open /socket/websocket."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from my_app import accounts
from my_app.config import Settings
from my_app.errors import UnauthorizedError
from my_app_web.channels import socket_token
from my_app_web.controllers.api import errors
from my_app_web.plugs.auth import SESSION_TOKEN_KEY, bearer_scheme

router = APIRouter(prefix="/socket-token", tags=["sockets"], responses=errors.SERVER_ERROR)


class SocketToken(BaseModel):
    token: str = Field(description="Pass as the `token` connect param, or as the JS client's `authToken`.")


class SocketTokenResponse(BaseModel):
    data: SocketToken


@router.get(
    "",
    response_model=SocketTokenResponse,
    responses=errors.UNAUTHORIZED,
    summary="A signed token to open /socket/websocket, valid 24 hours (bearer token or browser session)",
)
async def show(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> SocketTokenResponse:
    settings: Settings = request.app.state.settings
    credential: accounts.Credential | None = None
    if credentials is not None and credentials.credentials:
        credential = await accounts.get_credential(credentials.credentials, "api")
    elif isinstance(token := request.session.get(SESSION_TOKEN_KEY), str):
        credential = await accounts.get_credential(token, "session")
    if credential is None:
        raise UnauthorizedError()
    # Bound to the credential: logging it out (or a password change) refuses this token and closes
    # the sockets opened with it.
    signed = socket_token.sign(settings, credential.user.id, credential.id)
    return SocketTokenResponse(data=SocketToken(token=signed))
