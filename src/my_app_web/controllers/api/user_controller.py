"""The users API (the seed's UserController, with phx.gen.auth's flows as JSON endpoints).

Controllers stay thin: parse the wrapped body, call the Accounts context with the caller's `Scope`,
render with UserJSON. Who may see or change which account is the context's decision (it raises
ForbiddenError/NotFoundError); errors become responses in `controllers/fallback.py`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from my_app import accounts
from my_app.errors import NotFoundError
from my_app_web.controllers.api import errors, user_json
from my_app_web.controllers.api.json_response import JSONBody
from my_app_web.controllers.api.params import Text
from my_app_web.controllers.api.session_controller import SessionResponse, session_response
from my_app_web.plugs.auth import ApiScope, ApiUser
from my_app_web.plugs.client_ip import client_ip
from my_app_web.plugs.password_check import authenticate
from my_app_web.plugs.rate_limit import count_email_request, limiter_of

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


async def _user_in_scope(id: str, scope: ApiScope) -> accounts.User:  # noqa: A002 - the route's name
    """The user `id` names, as the context lets the caller see it (a dependency: answered before the body)."""
    return await accounts.get_user_or_404(scope, id)


ScopedUser = Annotated[accounts.User, Depends(_user_in_scope)]


# --- Registration and the current user ---


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=user_json.UserResponse,
    responses={**errors.BAD_BODY, **errors.UNPROCESSABLE, **errors.TOO_MANY},
    summary="Sign up; sends the welcome and confirmation emails. Limited per client IP (429)",
    description="A taken email answers 422 `has already been taken`, as phx.gen.auth does, so a client can"
    " say why. That answer tells whether an address has an account; sign-ups are therefore limited per"
    " client IP (`RATE_LIMIT_REGISTRATION`, 10 an hour by default), which also bounds the emails one"
    " client can make the app send.",
)
async def register(params: UserParams, request: Request) -> JSONBody:
    limiter = limiter_of(request)
    # Counted before anything is checked: refused sign-ups (a taken email) count too.
    await limiter.hit(limiter.registration, f"register:ip:{client_ip(request)}")
    user = await accounts.register_user(_attrs(params.user))
    return user_json.show(user, status_code=status.HTTP_201_CREATED, headers={"location": f"/api/users/{user.id}"})


@router.get(
    "/me",
    response_model=user_json.UserResponse,
    responses=errors.UNAUTHORIZED,
    summary="The user the bearer token belongs to",
)
async def me(user: ApiUser) -> JSONBody:
    return user_json.show(user)


@router.put(
    "/me/password",
    response_model=SessionResponse,
    responses={**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE, **errors.TOO_MANY},
    summary="Change the password: every token is revoked, a new one is returned."
    " The current password's attempts count with log-ins (429)",
)
async def update_password(params: PasswordChangeParams, request: Request, user: ApiUser) -> JSONBody:
    await authenticate(request, user.email, params.current_password)
    user = await accounts.update_user_password(user, {"password": params.password})
    return session_response(user, await accounts.create_api_token(user))


@router.post(
    "/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE, **errors.TOO_MANY},
    summary="Ask to change the email: a confirmation link goes to the new address."
    " The current password's attempts count with log-ins (429)",
)
async def request_email_change(params: EmailChangeParams, request: Request, user: ApiUser) -> Accepted:
    await authenticate(request, user.email, params.current_password)
    await accounts.request_user_email_update(user, {"email": params.email})
    return ACCEPTED


@router.put(
    "/me/email/{token}",
    response_model=user_json.UserResponse,
    responses={**errors.UNAUTHORIZED, **errors.NOT_FOUND, **errors.UNPROCESSABLE},
    summary="Confirm the email change with the emailed token",
)
async def confirm_email_change(token: str, user: ApiUser) -> JSONBody:
    return user_json.show(await accounts.update_user_email(user, token))


# --- Confirmation, password reset, magic links ---


@router.post(
    "/confirm",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**errors.BAD_BODY, **errors.TOO_MANY},
    summary="Send the confirmation email again (same answer for any email)",
)
async def resend_confirmation(params: EmailParams, request: Request) -> Accepted:
    await count_email_request(request, "confirm", params.email)
    await accounts.request_confirmation(params.email)
    return ACCEPTED


@router.post(
    "/confirm/{token}",
    response_model=user_json.UserResponse,
    responses=errors.NOT_FOUND,
    summary="Confirm an account with the emailed token",
)
async def confirm(token: str) -> JSONBody:
    user = await accounts.confirm_user(token)
    if user is None:
        raise NotFoundError("confirmation token")
    return user_json.show(user)


@router.post(
    "/reset-password",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**errors.BAD_BODY, **errors.TOO_MANY},
    summary="Send a password-reset link (same answer for any email)",
)
async def request_password_reset(params: EmailParams, request: Request) -> Accepted:
    await count_email_request(request, "reset", params.email)
    await accounts.request_password_reset(params.email)
    return ACCEPTED


@router.put(
    "/reset-password/{token}",
    response_model=user_json.UserResponse,
    responses={**errors.BAD_BODY, **errors.NOT_FOUND, **errors.UNPROCESSABLE},
    summary="Choose a new password with the emailed token; every session is logged out",
)
async def reset_password(token: str, params: PasswordParams) -> JSONBody:
    return user_json.show(await accounts.reset_user_password(token, {"password": params.password}))


@router.post(
    "/log-in-link",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**errors.BAD_BODY, **errors.TOO_MANY},
    summary="Email a single-use log-in link, valid 15 minutes (same answer for any email)",
)
async def request_login_link(params: EmailParams, request: Request) -> Accepted:
    await count_email_request(request, "magic", params.email)
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
    scope: ApiScope,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="`meta.next_cursor` of the previous page")] = None,
) -> JSONBody:
    return user_json.index(await accounts.paginate_users(scope, limit=limit, cursor=cursor))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=user_json.UserResponse,
    responses={**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.UNPROCESSABLE},
    summary="Create a user, with any role (admins)",
)
async def create(params: AdminUserParams, scope: ApiScope) -> JSONBody:
    user = await accounts.admin_create_user(scope, _attrs(params.user))
    return user_json.show(user, status_code=status.HTTP_201_CREATED, headers={"location": f"/api/users/{user.id}"})


@router.get(
    "/{id}",
    response_model=user_json.UserResponse,
    responses={**errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.NOT_FOUND},
    summary="Show a user (themself or an admin)",
)
async def show(user: ScopedUser) -> JSONBody:
    return user_json.show(user)


_UPDATE_RESPONSES: errors.Responses = {
    **errors.BAD_BODY,
    **errors.UNAUTHORIZED,
    **errors.FORBIDDEN,
    **errors.NOT_FOUND,
    **errors.UNPROCESSABLE,
}


@router.patch("/{id}", response_model=user_json.UserResponse, responses=_UPDATE_RESPONSES, summary="Update a user")
async def update(user: ScopedUser, params: AdminUserParams, scope: ApiScope) -> JSONBody:
    # Users change only their name here (the context ignores the rest); admins also email and role.
    return user_json.show(await accounts.update_user(scope, user, _attrs(params.user)))


@router.put("/{id}", response_model=user_json.UserResponse, responses=_UPDATE_RESPONSES, summary="Update a user")
async def replace(user: ScopedUser, params: AdminUserParams, scope: ApiScope) -> JSONBody:
    return user_json.show(await accounts.update_user(scope, user, _attrs(params.user)))


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.NOT_FOUND},
    summary="Delete a user (themself or an admin)",
)
async def delete(user: ScopedUser, scope: ApiScope) -> Response:
    await accounts.delete_user(scope, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
