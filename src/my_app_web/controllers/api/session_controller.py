"""API sessions: trade an email and password (or a magic-link token) for a bearer token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from my_app import accounts
from my_app.errors import UnauthorizedError
from my_app_web.controllers.api import errors, user_json
from my_app_web.controllers.api.json_response import JSONBody
from my_app_web.controllers.api.params import Text
from my_app_web.plugs.auth import BearerToken
from my_app_web.plugs.password_check import authenticate

router = APIRouter(prefix="/sessions", tags=["sessions"], responses=errors.SERVER_ERROR)


class Credentials(BaseModel):
    email: Text = Field(examples=["ada@example.com"])
    password: Text = Field(examples=["correct horse battery staple"])


class SessionData(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`; valid 365 days.")
    user: user_json.UserData


class SessionResponse(BaseModel):
    data: SessionData


def session_response(user: accounts.User, token: str, *, status_code: int = status.HTTP_200_OK) -> JSONBody:
    """A SessionResponse (rendered once, as user_json's views are)."""
    return JSONBody({"data": {"token": token, "user": user_json.data(user)}}, status_code=status_code)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionResponse,
    responses={**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.TOO_MANY},
    summary="Log in: the same 401 whether the email is unknown or the password wrong;"
    " attempts per email and per client IP are limited (429)",
)
async def create(credentials: Credentials, request: Request) -> JSONBody:
    user = await authenticate(request, credentials.email, credentials.password)
    return session_response(user, await accounts.create_api_token(user), status_code=status.HTTP_201_CREATED)


@router.post(
    "/magic-link/{token}",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionResponse,
    responses=errors.UNAUTHORIZED,
    summary="Log in with an emailed magic-link token (single use, 15 minutes)",
)
async def create_from_magic_link(token: str) -> JSONBody:
    user = await accounts.login_user_by_magic_link(token)
    if user is None:
        raise UnauthorizedError()
    return session_response(user, await accounts.create_api_token(user), status_code=status.HTTP_201_CREATED)


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors.UNAUTHORIZED,
    summary="Log out: revoke the presented bearer token",
)
async def delete(token: BearerToken) -> Response:
    if await accounts.fetch_user_by_api_token(token) is None:
        raise UnauthorizedError()
    await accounts.delete_api_token(token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
