"""The users API (the seed's UserController, with phx.gen.auth's flows as JSON endpoints).

Controllers stay thin: parse the wrapped body, call the Accounts context, render with UserJSON.
Errors become responses in `controllers/fallback.py`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from my_app import accounts
from my_app.accounts.scope import Scope
from my_app.errors import ForbiddenError, NotFoundError, UnauthorizedError
from my_app_web.controllers.api import errors, user_json
from my_app_web.controllers.api.params import Text
from my_app_web.controllers.api.session_controller import SessionResponse, session_response
from my_app_web.plugs.auth import AdminScope, ApiScope
from my_app_web.plugs.client_ip import client_ip
from my_app_web.plugs.rate_limit import Limiter

router = APIRouter(prefix="/users", tags=["users"], responses=errors.SERVER_ERROR)

# --- Request bodies: wrapped in "user", as Phoenix's params; the context validates the values ---


class UserFields(BaseModel):
    email: Text | None = Field(default=None, examples=["ada@example.com"])
    name: Text | None = Field(default=None, examples=["Ada Lovelace"])
    password: Text | None = Field(default=None, examples=["correct horse battery staple"])


class UserParams(BaseModel):
    user: UserFields


class AdminUserFields(UserFields):
    role: Text | None = Field(default=None, examples=["admin"])


class AdminUserParams(BaseModel):
    user: AdminUserFields


class EmailParams(BaseModel):
    email: Text = Field(examples=["ada@example.com"])


class PasswordParams(BaseModel):
    password: Text = Field(examples=["a new long passphrase"])


class PasswordChangeParams(BaseModel):
    current_password: Text
    password: Text = Field(examples=["a new long passphrase"])


class EmailChangeParams(BaseModel):
    current_password: Text
    email: Text = Field(examples=["ada@new.example.com"])


class Accepted(BaseModel):
    """The request was taken; the answer is the same whether or not the email is a user's."""

    data: dict[str, str] = Field(examples=[{"status": "accepted"}])


ACCEPTED = Accepted(data={"status": "accepted"})


def _attrs(fields: BaseModel) -> dict[str, Any]:
    return fields.model_dump(exclude_unset=True)


def _limiter(request: Request) -> Limiter:
    limiter: Limiter = request.app.state.limiter
    return limiter


async def _check_current_password(scope: Scope, password: str) -> None:
    """Sensitive changes over the API ask for the current password (sudo mode for bearer tokens)."""
    if await accounts.get_user_by_email_and_password(scope.user.email, password) is None:
        raise UnauthorizedError()


async def _count_email_request(request: Request, kind: str, email: str) -> None:
    """Rate-limit requests that send an email, per address and per client IP (429 past the limit)."""
    limiter = _limiter(request)
    await limiter.hit_or_refuse(
        limiter.email_requests, f"{kind}:ip:{client_ip(request)}", f"{kind}:email:{email.lower()}"
    )


async def _user_in_scope(id: str, scope: ApiScope) -> accounts.User:  # noqa: A002 - the route's name
    """The user `id` names, if the caller may see it: themself or an admin. A malformed id is 404."""
    try:
        user_id = uuid.UUID(id)
    except ValueError:
        raise NotFoundError("user", id) from None
    if not scope.admin and user_id != scope.user.id:
        raise ForbiddenError()
    return await accounts.get_user_or_404(user_id)


ScopedUser = Annotated[accounts.User, Depends(_user_in_scope)]


# --- Registration and the current user ---


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=user_json.UserResponse,
    responses={**errors.BAD_REQUEST, **errors.UNPROCESSABLE},
    summary="Sign up; sends the welcome and confirmation emails",
)
async def register(params: UserParams, response: Response) -> user_json.UserResponse:
    user = await accounts.register_user(_attrs(params.user))
    response.headers["location"] = f"/api/users/{user.id}"
    return user_json.show(user)


@router.get(
    "/me",
    response_model=user_json.UserResponse,
    responses=errors.UNAUTHORIZED,
    summary="The user the bearer token belongs to",
)
async def me(scope: ApiScope) -> user_json.UserResponse:
    return user_json.show(scope.user)


@router.put(
    "/me/password",
    response_model=SessionResponse,
    responses={**errors.BAD_REQUEST, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE},
    summary="Change the password: every token is revoked, a new one is returned",
)
async def update_password(params: PasswordChangeParams, scope: ApiScope) -> SessionResponse:
    await _check_current_password(scope, params.current_password)
    user = await accounts.update_user_password(scope.user, {"password": params.password})
    return session_response(user, await accounts.create_api_token(user))


@router.post(
    "/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**errors.BAD_REQUEST, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE},
    summary="Ask to change the email: a confirmation link goes to the new address",
)
async def request_email_change(params: EmailChangeParams, scope: ApiScope) -> Accepted:
    await _check_current_password(scope, params.current_password)
    await accounts.request_user_email_update(scope.user, {"email": params.email})
    return ACCEPTED


@router.put(
    "/me/email/{token}",
    response_model=user_json.UserResponse,
    responses={**errors.UNAUTHORIZED, **errors.NOT_FOUND, **errors.UNPROCESSABLE},
    summary="Confirm the email change with the emailed token",
)
async def confirm_email_change(token: str, scope: ApiScope) -> user_json.UserResponse:
    return user_json.show(await accounts.update_user_email(scope.user, token))


# --- Confirmation, password reset, magic links ---


@router.post(
    "/confirm",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**errors.BAD_REQUEST, **errors.TOO_MANY},
    summary="Send the confirmation email again (same answer for any email)",
)
async def resend_confirmation(params: EmailParams, request: Request) -> Accepted:
    await _count_email_request(request, "confirm", params.email)
    await accounts.request_confirmation(params.email)
    return ACCEPTED


@router.post(
    "/confirm/{token}",
    response_model=user_json.UserResponse,
    responses=errors.NOT_FOUND,
    summary="Confirm an account with the emailed token",
)
async def confirm(token: str) -> user_json.UserResponse:
    user = await accounts.confirm_user(token)
    if user is None:
        raise NotFoundError("confirmation token")
    return user_json.show(user)


@router.post(
    "/reset-password",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**errors.BAD_REQUEST, **errors.TOO_MANY},
    summary="Send a password-reset link (same answer for any email)",
)
async def request_password_reset(params: EmailParams, request: Request) -> Accepted:
    await _count_email_request(request, "reset", params.email)
    await accounts.request_password_reset(params.email)
    return ACCEPTED


@router.put(
    "/reset-password/{token}",
    response_model=user_json.UserResponse,
    responses={**errors.BAD_REQUEST, **errors.NOT_FOUND, **errors.UNPROCESSABLE},
    summary="Choose a new password with the emailed token; every session is logged out",
)
async def reset_password(token: str, params: PasswordParams) -> user_json.UserResponse:
    return user_json.show(await accounts.reset_user_password(token, {"password": params.password}))


@router.post(
    "/log-in-link",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**errors.BAD_REQUEST, **errors.TOO_MANY},
    summary="Email a single-use log-in link, valid 15 minutes (same answer for any email)",
)
async def request_login_link(params: EmailParams, request: Request) -> Accepted:
    await _count_email_request(request, "magic", params.email)
    await accounts.request_login_link(params.email)
    return ACCEPTED


# --- Managing users (admins, or users themselves) ---


@router.get(
    "",
    response_model=user_json.UserListResponse,
    responses={**errors.BAD_REQUEST, **errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.UNPROCESSABLE},
    summary="List users, oldest first (admins)",
)
async def index(
    scope: AdminScope,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="`meta.next_cursor` of the previous page")] = None,
) -> user_json.UserListResponse:
    return user_json.index(await accounts.paginate_users(limit=limit, cursor=cursor))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=user_json.UserResponse,
    responses={**errors.BAD_REQUEST, **errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.UNPROCESSABLE},
    summary="Create a user, with any role (admins)",
)
async def create(params: AdminUserParams, scope: AdminScope, response: Response) -> user_json.UserResponse:
    user = await accounts.admin_create_user(_attrs(params.user))
    response.headers["location"] = f"/api/users/{user.id}"
    return user_json.show(user)


@router.get(
    "/{id}",
    response_model=user_json.UserResponse,
    responses={**errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.NOT_FOUND},
    summary="Show a user (themself or an admin)",
)
async def show(user: ScopedUser) -> user_json.UserResponse:
    return user_json.show(user)


async def _update(user: accounts.User, params: AdminUserParams, scope: Scope) -> user_json.UserResponse:
    attrs = _attrs(params.user)
    if scope.admin:
        return user_json.show(await accounts.admin_update_user(user, attrs))
    # Users change only their name here: role is admin-only, email and password have their flows.
    return user_json.show(await accounts.update_user(user, attrs))


_UPDATE_RESPONSES: errors.Responses = {
    **errors.BAD_REQUEST,
    **errors.UNAUTHORIZED,
    **errors.FORBIDDEN,
    **errors.NOT_FOUND,
    **errors.UNPROCESSABLE,
}


@router.patch("/{id}", response_model=user_json.UserResponse, responses=_UPDATE_RESPONSES, summary="Update a user")
async def update(user: ScopedUser, params: AdminUserParams, scope: ApiScope) -> user_json.UserResponse:
    return await _update(user, params, scope)


@router.put("/{id}", response_model=user_json.UserResponse, responses=_UPDATE_RESPONSES, summary="Update a user")
async def replace(user: ScopedUser, params: AdminUserParams, scope: ApiScope) -> user_json.UserResponse:
    return await _update(user, params, scope)


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.NOT_FOUND},
    summary="Delete a user (themself or an admin)",
)
async def delete(user: ScopedUser) -> Response:
    await accounts.delete_user(user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
