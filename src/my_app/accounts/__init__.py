"""The Accounts context: users, their tokens and authentication (the seed's `accounts.ex` plus
`mix phx.gen.auth`). The web layer calls only the functions listed in `__all__`.

Every function runs in one transaction. Writes that belong together happen together: registering
writes the user and enqueues the welcome and confirmation emails, or does neither; changing a
password deletes every token of that user (all sessions and API tokens are logged out).

Access is decided here, not by callers: functions about *some* user take the caller's `Scope`
first (`get_user_or_404(scope, id)`, `update_user(scope, user, attrs)`, `list_users(scope)`...)
and raise `ForbiddenError` when it may not. Users see and change their own account; admins any
(and may set roles); `Scope.for_system()` is the operator (CLI, seeds). Functions about the
caller's own credentials (log-in, tokens, password and email changes) take the user or the token,
as phx.gen.auth's do. Emails are built and delivered by the notifier's job (`notifier.py`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from my_app import jobs, pubsub, repo
from my_app.accounts import notifier, user_token
from my_app.accounts.notifier import (
    UrlBuilder,
    deliver_login_instructions,
    deliver_user_confirmation_instructions,
    deliver_user_reset_password_instructions,
    deliver_user_update_email_instructions,
)
from my_app.accounts.scope import Identity, Scope
from my_app.accounts.user import (
    AdminUserCreate,
    AdminUserUpdate,
    Role,
    User,
    UserCreate,
    UserEmailChange,
    UserPasswordChange,
    UserRegistration,
    UserUpdate,
    hash_password,
    verify_password,
)
from my_app.accounts.user_token import UserToken
from my_app.changeset import Changeset, cast, change, update_changes
from my_app.constraints import unique_violation
from my_app.errors import ForbiddenError, NotFoundError, ValidationError
from my_app.gettext import LOCALES
from my_app.pagination import Page, check_limit, decode_cursor, page_of
from my_app.schema import parse_id

__all__ = [
    "SUDO_MODE_WINDOW",
    "USERS_TOPIC",
    "Credential",
    "Identity",
    "Role",
    "Scope",
    "Session",
    "UrlBuilder",
    "User",
    "UserEvent",
    "admin_create_user",
    "change_new_user",
    "change_user",
    "change_user_email",
    "change_user_password",
    "change_user_registration",
    "confirm_user",
    "create_api_token",
    "create_user",
    "delete_api_token",
    "delete_user",
    "delete_user_session_token",
    "deliver_login_instructions",
    "deliver_user_confirmation_instructions",
    "deliver_user_reset_password_instructions",
    "deliver_user_update_email_instructions",
    "fetch_user_by_api_token",
    "generate_user_session_token",
    "get_credential",
    "get_credential_by_id",
    "get_user",
    "get_user_by_email",
    "get_user_by_email_and_password",
    "get_user_by_magic_link_token",
    "get_user_by_reset_password_token",
    "get_user_by_session_token",
    "get_user_or_404",
    "get_users_map",
    "list_users",
    "login_user_by_magic_link",
    "paginate_users",
    "purge_expired_tokens",
    "register_user",
    "request_confirmation",
    "request_login_link",
    "request_password_reset",
    "request_user_email_update",
    "reset_user_password",
    "socket_id_for",
    "sudo_mode",
    "update_user",
    "update_user_email",
    "update_user_locale",
    "update_user_password",
]

SUDO_MODE_WINDOW = timedelta(minutes=20)
# Every committed create, update and delete of a user is announced here as {"id": "<uuid>"}.
USERS_TOPIC = "users"
UserEvent = Literal["user_created", "user_updated", "user_deleted"]
# A second reset or magic-link request for the same user within this window sends nothing more.
EMAIL_REQUEST_WINDOW = timedelta(seconds=60)
# The kinds of token a person signs in with, which a socket token may be minted from.
CredentialContext = Literal["session", "api"]
_EMAIL_TAKEN = {"email": ["has already been taken"]}


@dataclass(frozen=True)
class Session:
    """A signed-in user and when they last proved who they are (for sudo mode)."""

    user: User
    authenticated_at: datetime | None


@dataclass(frozen=True)
class Credential:
    """A live session or API token, as a socket token refers to it (by row id, never the token).

    `socket_id` is the topic its sockets listen on: deleting the token (log-out, password change)
    broadcasts `"disconnect"` there.
    """

    id: uuid.UUID
    user: User
    socket_id: str


# --- Database getters (scoped: each says who may see what) ---


async def list_users(scope: Scope) -> list[User]:
    """Every user, oldest first; for admins (and the system) only.

    Examples:
        await list_users(Scope.for_user(admin))  # [User(...), ...]
        await list_users(Scope.for_system())     # [User(...), ...] (`myapp users list`)
        await list_users(Scope.for_user(ada))    # ForbiddenError
    """
    _require_admin(scope)
    async with repo.read() as session:  # one statement: no BEGIN/COMMIT around it
        return list(await session.scalars(select(User).order_by(User.inserted_at, User.id)))


async def paginate_users(scope: Scope, *, limit: int | None = None, cursor: str | None = None) -> Page[User]:
    """One page of users, oldest first, for admins; `next_cursor` fetches the next (stable under inserts).

    Examples:
        page = await paginate_users(Scope.for_user(admin), limit=20)
        await paginate_users(Scope.for_user(admin), limit=20, cursor=page.next_cursor)
        await paginate_users(Scope.for_user(admin), limit=500)  # ValidationError({"limit": [...]})
        await paginate_users(Scope.for_user(ada))               # ForbiddenError
    """
    _require_admin(scope)
    size = check_limit(limit)
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        rows = await repo.fetch_all(_USERS_AFTER, limit=size + 1, after_at=after_at, after_id=after_id)
    else:
        rows = await repo.fetch_all(_USERS_FIRST, limit=size + 1)
    return page_of([_USER.load(row) for row in rows], size)


async def get_user(scope: Scope, user_id: uuid.UUID | str) -> User | None:
    """The user with this id if the caller may see it (their own account, or any for an admin), else None.

    Examples:
        await get_user(Scope.for_user(ada), ada.id)    # User(...)
        await get_user(Scope.for_user(ada), bob.id)    # None: not hers to see
        await get_user(Scope.for_user(admin), bob.id)  # User(...)
        await get_user(Scope.for_system(), uuid4())    # None: no such user
    """
    key = parse_id(user_id)
    if key is None or not scope.can_manage(key):
        return None
    async with repo.read() as session:
        return await session.get(User, key)


async def get_user_or_404(scope: Scope, user_id: uuid.UUID | str) -> User:
    """The user with this id (`get_user!`): NotFoundError when there is none (or the id is malformed),
    ForbiddenError when the caller may not see it.

    Another user's account answers Forbidden, not Not Found, without looking it up: ids are random
    UUIDs, so the difference tells nobody whether an account exists (and the API has always said 403).

    Examples:
        await get_user_or_404(Scope.for_user(ada), ada.id)       # User(...)
        await get_user_or_404(Scope.for_user(ada), bob.id)       # ForbiddenError
        await get_user_or_404(Scope.for_user(admin), uuid4())    # NotFoundError("user", ...)
        await get_user_or_404(Scope.for_user(admin), "not-an-id")  # NotFoundError("user", "not-an-id")
    """
    key = parse_id(user_id)
    if key is None:
        raise NotFoundError("user", user_id)
    if not scope.can_manage(key):
        raise ForbiddenError()
    async with repo.read() as session:
        user = await session.get(User, key)
    if user is None:
        raise NotFoundError("user", key)
    return user


async def get_users_map(user_ids: Iterable[uuid.UUID | str]) -> dict[str, User]:
    """The users with these ids, by id as a string, in one query (Presence's `fetch`: who is online).

    Unscoped, like `get_user_by_email`: the caller shows only what everyone may see of them (their
    name). Ids of nobody, and malformed ones, are left out.

    Examples:
        await get_users_map([str(ada.id), str(bob.id)])  # {"<ada's id>": User(...), "<bob's id>": User(...)}
        await get_users_map(["oops", str(uuid4())])       # {}
    """
    keys = {key for key in map(parse_id, user_ids) if key is not None}
    if not keys:
        return {}
    async with repo.read() as session:
        return {str(user.id): user for user in await session.scalars(select(User).where(User.id.in_(keys)))}


async def get_user_by_email(email: str) -> User | None:
    """The user with this email (any letter case), or None. Unscoped, as phx.gen.auth's: log-in,
    password reset and the CLI look users up by the address they were given.

    Examples:
        await get_user_by_email("ADA@example.com")      # User(email="ada@example.com", ...)
        await get_user_by_email("nobody@example.com")   # None
    """
    async with repo.read() as session:
        return await session.scalar(select(User).where(User.email == email))


async def get_user_by_email_and_password(email: str, password: str) -> User | None:
    """The user when the password is theirs, else None; takes as long whether or not the email exists.

    Callers rate-limit the attempts first (the web layer's limiter counts each before this runs).

    Examples:
        await get_user_by_email_and_password("ada@example.com", "right password")  # User(...)
        await get_user_by_email_and_password("ada@example.com", "wrong")           # None
    """
    user = await get_user_by_email(email)
    # bcrypt takes a quarter of a second on purpose and releases the GIL: run it off the event
    # loop, so a log-in never stalls the other requests of this process.
    return user if await asyncio.to_thread(verify_password, user, password) else None


# --- Creating, updating, deleting ---


async def create_user(attrs: Mapping[str, Any]) -> User:
    """Create a user (role `user`, whatever `attrs` says); ValidationError and nothing written on bad input.

    Unscoped: it grants nothing a sign-up would not (seeds, tests and tools make plain users with it).

    Examples:
        await create_user({"email": "ada@example.com", "name": "Ada"})  # User(role="user", ...)
        await create_user({"email": None})  # ValidationError({"email": ["can't be blank"], ...})
    """
    return await _insert_user(cast(UserCreate, attrs), role=Role.USER, welcome=False)


async def admin_create_user(scope: Scope, attrs: Mapping[str, Any]) -> User:
    """Create a user with the role `attrs` asks for; admins (and the system) only.

    Examples:
        await admin_create_user(Scope.for_user(admin), {"email": "b@example.com", "name": "B", "role": "admin"})
        await admin_create_user(Scope.for_system(), {...})         # `myapp users create`, seeds
        await admin_create_user(Scope.for_user(ada), {...})        # ForbiddenError, nothing written
        await admin_create_user(Scope.for_user(admin), {"role": "root", ...})  # ValidationError({"role": [...]})
    """
    _require_admin(scope)
    data = cast(AdminUserCreate, attrs)
    return await _insert_user(data, role=data.role, welcome=False)


async def register_user(attrs: Mapping[str, Any]) -> User:
    """Sign a user up: writes the user and enqueues the welcome and confirmation emails, all or nothing.

    A taken email answers "has already been taken", as phx.gen.auth does: API clients need to tell
    the person why. That tells whether an address has an account, so the web layer limits sign-ups
    per client IP (RATE_LIMIT_REGISTRATION), which also bounds the emails one client can cause.

    Examples:
        await register_user({"email": "ada@example.com", "name": "Ada", "password": "a long passphrase"})
        await register_user({"email": "ada@example.com", "role": "admin", ...})  # role stays "user"
        await register_user({"email": "ada@example.com", ...})  # again: ValidationError (email taken)
    """
    return await _insert_user(cast(UserRegistration, attrs), role=Role.USER, welcome=True)


async def update_user(scope: Scope, user: User, attrs: Mapping[str, Any]) -> User:
    """Change a user: an admin may change name, email and role; users only their own name (email and
    password have their own flows). ForbiddenError for anyone else's account, and nothing is written.

    Examples:
        await update_user(Scope.for_user(ada), ada, {"name": "Ada L."})          # User(name="Ada L.")
        await update_user(Scope.for_user(ada), ada, {"role": "admin"})           # role ignored: stays "user"
        await update_user(Scope.for_user(ada), bob, {"name": "x"})               # ForbiddenError
        await update_user(Scope.for_user(admin), bob, {"role": "admin"})        # User(role="admin")
        await update_user(Scope.for_user(admin), bob, {"email": taken})         # ValidationError(...taken)
    """
    if not scope.can_manage(user.id):
        raise ForbiddenError()
    return await _update(user, update_changes(AdminUserUpdate if scope.admin else UserUpdate, attrs))


def change_user(scope: Scope, user: User, attrs: Mapping[str, Any] | None = None) -> Changeset[User]:
    """The user with `attrs` validated as `update_user` would take them, for forms; writes nothing.

    Examples:
        change_user(Scope.for_user(ada), ada, {"name": "New"}).valid   # True
        change_user(Scope.for_user(ada), ada, {"name": "x" * 161}).errors  # {"name": ["should be at most ..."]}
        change_user(Scope.for_user(ada), bob)                          # ForbiddenError
    """
    if not scope.can_manage(user.id):
        raise ForbiddenError()
    return change(AdminUserUpdate if scope.admin else UserUpdate, user, attrs or {})


async def delete_user(scope: Scope, user: User) -> User:
    """Delete the user and their tokens (their sockets are closed); the user themself or an admin.

    Jobs still queued about them are cancelled when they run.

    Examples:
        await delete_user(Scope.for_user(ada), ada)    # User(...): gone
        await delete_user(Scope.for_user(ada), bob)    # ForbiddenError, nothing deleted
        await delete_user(Scope.for_user(admin), bob)  # User(...)
    """
    if not scope.can_manage(user.id):
        raise ForbiddenError()
    async with repo.transaction() as session:
        tokens = list(await session.scalars(select(UserToken.token).where(UserToken.user_id == user.id)))
        await session.execute(delete(User).where(User.id == user.id))
    await _disconnect(tokens)
    await _broadcast_user("user_deleted", user.id)
    return user


# --- Sessions and API tokens ---


async def generate_user_session_token(user: User, *, authenticated_at: datetime | None = None) -> str:
    """A new session token for a browser; `authenticated_at` defaults to now (a fresh log-in)."""
    return await user_token.insert_token(user.id, user_token.SESSION, authenticated_at=authenticated_at or _now())


async def get_user_by_session_token(token: str) -> Session | None:
    """The signed-in user and when they authenticated, for a valid, unexpired session token."""
    found = await _user_and_token(token, user_token.SESSION)
    return Session(user=found[0], authenticated_at=found[1].authenticated_at) if found else None


async def delete_user_session_token(token: str) -> None:
    """Log a session out (nothing happens for an unknown token)."""
    await _delete_token(token, user_token.SESSION)


async def create_api_token(user: User) -> str:
    """A new bearer token for API clients, valid 365 days."""
    return await user_token.insert_token(user.id, user_token.API, authenticated_at=_now())


async def fetch_user_by_api_token(token: str) -> User | None:
    """The user behind a valid, unexpired bearer token (one query: token joined to user)."""
    found = await _user_and_token(token, user_token.API)
    return found[0] if found else None


async def delete_api_token(token: str) -> None:
    """Revoke a bearer token (nothing happens for an unknown token)."""
    await _delete_token(token, user_token.API)


async def get_credential(token: str, context: CredentialContext) -> Credential | None:
    """The live session or API token `token` is, with its user (one query); None for a bad or expired one.

    A socket token is minted from it and names it by `Credential.id`, never by the token itself.

    Examples:
        await get_credential(api_token, "api")          # Credential(id=..., user=User(...), socket_id=...)
        await get_credential(api_token, "session")      # None: not a session token
        await get_credential("revoked-token", "api")    # None
    """
    found = await _user_and_token(token, context)
    return _credential(*found) if found else None


async def get_credential_by_id(credential_id: uuid.UUID) -> Credential | None:
    """The session or API token with this row id, if it still exists and has not expired (one query).

    Socket connect checks with it that the credential a socket token was minted from is still
    there: once it is logged out, or deleted with every other token by a password change, the old
    socket token opens nothing.

    Examples:
        await get_credential_by_id(credential.id)  # Credential(...)
        await delete_api_token(api_token)
        await get_credential_by_id(credential.id)  # None
    """
    now = _now()
    row = await repo.fetch_one(
        _CREDENTIAL_BY_ID,
        id=credential_id,
        session_cutoff=now - user_token.validity(user_token.SESSION),
        api_cutoff=now - user_token.validity(user_token.API),
    )
    return None if row is None else _credential(*_loaded_user_and_token(row))


def socket_id_for(token: str) -> str | None:
    """The topic naming the sockets and live pages opened with this session or API token.

    Broadcasting `"disconnect"` there closes them: done when the token is deleted (log-out,
    password change). Built from the token's hash, so the raw token never travels over PubSub.
    """
    raw = user_token.decode_token(token)
    return _socket_id(user_token.hash_token(raw)) if raw is not None else None


def sudo_mode(authenticated_at: datetime | None, *, now: datetime | None = None) -> bool:
    """True when the user proved who they are within the last 20 minutes (for email/password changes)."""
    if authenticated_at is None:
        return False
    return (now or _now()) - authenticated_at <= SUDO_MODE_WINDOW


# --- Confirmation ---


async def request_confirmation(email: str) -> None:
    """Enqueue the confirmation email again for an unconfirmed user; says nothing either way."""
    user = await get_user_by_email(email)
    if user is not None and user.confirmed_at is None:
        await _enqueue_email("confirmation", user, unique=True)


async def confirm_user(token: str) -> User | None:
    """Confirm the user the token was sent to; None for a bad, used or expired token."""
    async with repo.transaction() as session:
        found = await _find(session, token, user_token.CONFIRM)
        if found is None or found[1].sent_to != found[0].email:
            return None
        user = found[0]
        user.confirmed_at = user.confirmed_at or _now()
        await session.execute(delete(UserToken).where(UserToken.user_id == user.id, UserToken.context == "confirm"))
    await _broadcast_user("user_updated", user.id)
    return user


# --- Password reset ---


async def request_password_reset(email: str) -> None:
    """Enqueue the reset email if the address is a user's; says nothing either way (no enumeration).

    A second request within 60 seconds sends no second email.
    """
    user = await get_user_by_email(email)
    if user is not None:
        await _enqueue_email("reset_password", user, unique=True)


async def get_user_by_reset_password_token(token: str) -> User | None:
    """The user a valid, unexpired reset token was sent to, else None."""
    found = await _user_and_token(token, user_token.RESET_PASSWORD)
    return found[0] if found and found[1].sent_to == found[0].email else None


async def reset_user_password(token: str, attrs: Mapping[str, Any]) -> User:
    """Set a new password from a reset link; every session and API token of the user is deleted.

    Raises NotFoundError for a bad or expired token, ValidationError for a bad password.
    """
    data = cast(UserPasswordChange, attrs)
    user = await get_user_by_reset_password_token(token)
    if user is None:
        raise NotFoundError("reset password token")
    return await _set_password(user, data.password)


# --- Changing email and password ---


async def request_user_email_update(user: User, attrs: Mapping[str, Any]) -> str:
    """Check the new email and enqueue the confirmation link to it; returns the new address."""
    new_email = cast(UserEmailChange, attrs).email
    if new_email.lower() == user.email.lower():
        raise ValidationError({"email": ["did not change"]})
    if await get_user_by_email(new_email) is not None:
        raise ValidationError({"email": ["has already been taken"]})
    await _enqueue_email("update_email", user, new_email=new_email)
    return new_email


async def update_user_email(user: User, token: str) -> User:
    """Switch to the new email the token was sent to. NotFoundError for a bad or expired token."""
    context = user_token.CHANGE_EMAIL_PREFIX + user.email
    async with repo.transaction() as session:
        found = await _find(session, token, context)
        if found is None or found[0].id != user.id or not found[1].sent_to:
            raise NotFoundError("change email token")
        record = found[0]
        record.email = found[1].sent_to
        record.confirmed_at = record.confirmed_at or _now()
        try:
            # The DELETE autoflushes the new email first: a taken one fails here.
            await session.execute(delete(UserToken).where(UserToken.user_id == user.id, UserToken.context == context))
            await session.flush()
        except IntegrityError as exc:
            if unique_violation(exc) == "users_email_key":
                raise ValidationError(_EMAIL_TAKEN) from None
            raise
    await _broadcast_user("user_updated", record.id)
    return record


async def update_user_password(user: User, attrs: Mapping[str, Any]) -> User:
    """Set a new password; every session and API token of the user is deleted (all logged out)."""
    return await _set_password(user, cast(UserPasswordChange, attrs).password)


# --- Magic links ---


async def request_login_link(email: str) -> None:
    """Enqueue a log-in link for the address if it is a user's; says nothing either way."""
    user = await get_user_by_email(email)
    if user is not None:
        await _enqueue_email("magic_link", user, unique=True)


async def login_user_by_magic_link(token: str) -> User | None:
    """Log in with a magic link (single use), as phx.gen.auth does; None when it may not be used.

    An unconfirmed account that has a password is refused: someone may have registered the
    address before its owner, and the owner's click must not log them into that account. An
    unconfirmed account without one is confirmed, and every other token of it is deleted.
    """
    deleted: list[bytes] = []
    async with repo.transaction() as session:
        found = await _find(session, token, user_token.LOGIN)
        if found is None or found[1].sent_to != found[0].email:
            return None
        user, row = found
        if user.confirmed_at is None and user.hashed_password is not None:
            return None
        if user.confirmed_at is None:
            user.confirmed_at = _now()
            result = await session.execute(
                delete(UserToken).where(UserToken.user_id == user.id).returning(UserToken.token)
            )
            deleted = list(result.scalars())
        else:
            await session.delete(row)
    await _disconnect(deleted)
    if deleted:  # it was confirmed just now
        await _broadcast_user("user_updated", user.id)
    return user


# --- Housekeeping ---


async def purge_expired_tokens() -> int:
    """Delete every token past its validity; returns how many (run daily by the job queue)."""
    now = _now()
    conditions = [
        (UserToken.context == context) & (UserToken.inserted_at < now - validity)
        for context, validity in user_token.VALIDITY.items()
    ]
    conditions.append(
        UserToken.context.startswith(user_token.CHANGE_EMAIL_PREFIX)
        & (UserToken.inserted_at < now - user_token.CHANGE_EMAIL_VALIDITY)
    )
    async with repo.transaction() as session:
        result = await session.execute(delete(UserToken).where(or_(*conditions)).returning(UserToken.id))
        return len(result.all())


# --- Helpers ---


def _now() -> datetime:
    return datetime.now(UTC)


def _require_admin(scope: Scope) -> None:
    if not scope.admin:
        raise ForbiddenError()


def _credential(user: User, row: UserToken) -> Credential:
    return Credential(id=row.id, user=user, socket_id=_socket_id(row.token))


async def _insert_user(data: UserCreate, *, role: Role, welcome: bool) -> User:
    user = User(
        email=data.email,
        name=data.name,
        hashed_password=await asyncio.to_thread(hash_password, data.password) if data.password else None,
        role=role,
    )
    try:
        async with repo.transaction() as session:
            session.add(user)
            await session.flush()
            if welcome:
                await _enqueue_email_in(session, "welcome", user)
                await _enqueue_email_in(session, "confirmation", user)
    except IntegrityError as exc:
        if unique_violation(exc) == "users_email_key":
            raise ValidationError(_EMAIL_TAKEN) from None
        raise
    await _broadcast_user("user_created", user.id)
    return user


async def _update(user: User, changes: Mapping[str, Any]) -> User:
    try:
        async with repo.transaction() as session:
            record = await repo.update(session, User, user.id, changes)
            await session.refresh(record)
    except IntegrityError as exc:
        if unique_violation(exc) == "users_email_key":
            raise ValidationError(_EMAIL_TAKEN) from None
        raise
    await _broadcast_user("user_updated", record.id)
    return record


async def _set_password(user: User, password: str) -> User:
    # Outside the transaction and off the event loop: bcrypt is slow on purpose.
    hashed = await asyncio.to_thread(hash_password, password)
    async with repo.transaction() as session:
        record = await repo.get_for_update(session, User, user.id)
        record.hashed_password = hashed
        result = await session.execute(delete(UserToken).where(UserToken.user_id == user.id).returning(UserToken.token))
        deleted = list(result.scalars())
        await session.flush()
    await _disconnect(deleted)
    return record


async def _user_and_token(token: str, context: str) -> tuple[User, UserToken] | None:
    """`_find` outside a transaction, on the driver (`repo.Query`): every API request and page makes it."""
    found = _lookup_values(token, context)
    row = None if found is None else await repo.fetch_one(_TOKEN_ROW, **found)
    return None if row is None else _loaded_user_and_token(row)


# A token's user, in one query. Built once: it runs on every API request and every page with a
# session, and building and keying a statement anew took ~40% of the lookup's CPU (bench/README.md).
_TOKEN_MATCHES = (
    UserToken.token == bindparam("token_hash"),
    UserToken.context == bindparam("context"),
    UserToken.inserted_at > bindparam("cutoff"),
)
_TOKEN_LOOKUP = select(User, UserToken).join(UserToken, UserToken.user_id == User.id).where(*_TOKEN_MATCHES)

_USER = repo.Columns(User)
_TOKEN = repo.Columns(UserToken)
# A user and one of their tokens as columns, for the lookups on the driver (`_loaded_user_and_token`).
_USER_AND_TOKEN = select(*_USER.attributes, *_TOKEN.attributes).join(UserToken, UserToken.user_id == User.id)
# `paginate_users`' pages, oldest first: the first, and the one after a cursor's (inserted_at, id).
_USERS_FIRST = repo.Query(select(*_USER.attributes).order_by(User.inserted_at, User.id).limit(bindparam("limit")))
_USERS_AFTER = repo.Query(
    select(*_USER.attributes)
    .where(tuple_(User.inserted_at, User.id) > tuple_(bindparam("after_at"), bindparam("after_id")))
    .order_by(User.inserted_at, User.id)
    .limit(bindparam("limit"))
)
# `get_credential_by_id`: a live session or API token by its row id (each socket connect asks).
_CREDENTIAL_BY_ID = repo.Query(
    _USER_AND_TOKEN.where(
        UserToken.id == bindparam("id"),
        or_(
            (UserToken.context == user_token.SESSION) & (UserToken.inserted_at > bindparam("session_cutoff")),
            (UserToken.context == user_token.API) & (UserToken.inserted_at > bindparam("api_cutoff")),
        ),
    )
)
# `_TOKEN_LOOKUP` as columns, for `_user_and_token`.
_TOKEN_ROW = repo.Query(_USER_AND_TOKEN.where(*_TOKEN_MATCHES))


def _lookup_values(token: str, context: str) -> dict[str, Any] | None:
    """The token lookup's parameters for `token` in `context`; None for a token we never handed out."""
    raw = user_token.decode_token(token)
    if raw is None:
        return None
    return {
        "token_hash": user_token.hash_token(raw),
        "context": context,
        "cutoff": _now() - user_token.validity(context),
    }


def _loaded_user_and_token(row: tuple[Any, ...]) -> tuple[User, UserToken]:
    split = len(_USER)
    return _USER.load(row[:split]), _TOKEN.load(row[split:])


async def _find(session: AsyncSession, token: str, context: str) -> tuple[User, UserToken] | None:
    found = _lookup_values(token, context)
    row = None if found is None else (await session.execute(_TOKEN_LOOKUP, found)).first()
    return (row[0], row[1]) if row else None


async def _delete_token(token: str, context: str) -> None:
    raw = user_token.decode_token(token)
    if raw is None:
        return
    async with repo.transaction() as session:
        result = await session.execute(
            delete(UserToken)
            .where(UserToken.token == user_token.hash_token(raw), UserToken.context == context)
            .returning(UserToken.token)
        )
        deleted = list(result.scalars())
    await _disconnect(deleted)


async def _broadcast_user(event: UserEvent, user_id: uuid.UUID) -> None:
    """Announce a committed write on USERS_TOPIC, whichever door it came through (`{"id": ...}`)."""
    await pubsub.announce(USERS_TOPIC, event, {"id": str(user_id)})


def _socket_id(token_hash: bytes) -> str:
    return "users_sessions:" + token_hash.hex()[:32]


async def _disconnect(token_hashes: list[bytes]) -> None:
    """Close the sockets opened with these (now deleted) tokens; after the commit, as phx.gen.auth."""
    for token_hash in token_hashes:
        await pubsub.announce(_socket_id(token_hash), "disconnect", {})


async def _enqueue_email(kind: str, user: User, *, unique: bool = False, new_email: str | None = None) -> None:
    async with repo.transaction() as session:
        await _enqueue_email_in(session, kind, user, unique=unique, new_email=new_email)


async def _enqueue_email_in(
    session: AsyncSession, kind: str, user: User, *, unique: bool = False, new_email: str | None = None
) -> None:
    """Enqueue the notifier's job in the caller's transaction: the email goes if and only if it commits."""
    # Only the arguments this email needs: the job's args are also what `unique_for` compares.
    params: dict[str, Any] = {"new_email": new_email} if new_email is not None else {}
    await jobs.enqueue(
        session,
        notifier.deliver_email,
        unique_for=EMAIL_REQUEST_WINDOW if unique else None,
        type=kind,
        user_id=str(user.id),
        **params,
    )


# --- Preferences ---


async def update_user_locale(scope: Scope, user: User, locale: str | None) -> User:
    """Set the language of the user's pages and emails (one of `my_app.gettext.LOCALES`), or None
    to follow the browser; the user themself or an admin.

    Examples:
        await update_user_locale(Scope.for_user(ada), ada, "de")    # User(locale="de")
        await update_user_locale(Scope.for_user(ada), ada, None)    # back to the browser's language
        await update_user_locale(Scope.for_user(ada), ada, "xx")    # ValidationError({"locale": ["is invalid"]})
        await update_user_locale(Scope.for_user(ada), bob, "de")    # ForbiddenError
    """
    if not scope.can_manage(user.id):
        raise ForbiddenError()
    if locale is not None and locale not in LOCALES:
        raise ValidationError({"locale": ["is invalid"]})
    return await _update(user, {"locale": locale})


# --- Forms: a new user (the live user pages' form) ---


def change_new_user(scope: Scope, attrs: Mapping[str, Any] | None = None) -> Changeset[User]:
    """A new user with `attrs` validated as `admin_create_user` would take them, for forms; writes
    nothing (a taken email is only found when saving). Admins (and the system) only.

    Examples:
        change_new_user(Scope.for_user(admin), {"email": "b@example.com", "name": "B"}).valid  # True
        change_new_user(Scope.for_user(admin), {"email": "nope"}).errors
        # {"email": ["must be a valid email"], "name": ["can't be blank"]}
        change_new_user(Scope.for_user(ada))                                                   # ForbiddenError
    """
    _require_admin(scope)
    return change(AdminUserCreate, User(role=Role.USER), attrs or {})


# --- Browser pages: form changesets and the magic-link page (issue 10, auth pages) ---
# Kept apart so the other helpers' edits above do not collide with these. Forms validate as you type
# with these (no write); the magic-link page shows whom the link logs in before its button is pressed.


def change_user_registration(attrs: Mapping[str, Any] | None = None) -> Changeset[None]:
    """The sign-up form's input validated as `register_user` would take it; writes nothing.

    Examples:
        change_user_registration({"email": "ada@example.com", "name": "Ada", "password": "a long passphrase"}).valid
        change_user_registration({"password": "short"}).errors["password"]  # ["should be at least 12 character(s)"]
    """
    return change(UserRegistration, None, attrs or {})


def change_user_email(user: User, attrs: Mapping[str, Any] | None = None) -> Changeset[User]:
    """The new-email form validated as `request_user_email_update` would check it (not the "taken" check)."""
    changeset = change(UserEmailChange, user, attrs or {})
    new_email = changeset.changes.get("email")
    if isinstance(new_email, str) and new_email.lower() == user.email.lower():
        return Changeset(data=user, changes=changeset.changes, errors={"email": ["did not change"]})
    return changeset


def change_user_password(user: User | None, attrs: Mapping[str, Any] | None = None) -> Changeset[User | None]:
    """A new password validated as `update_user_password` / `reset_user_password` would take it."""
    return change(UserPasswordChange, user, attrs or {})


async def get_user_by_magic_link_token(token: str) -> User | None:
    """The user a valid, unexpired log-in link was sent to, else None; uses nothing up."""
    found = await _user_and_token(token, user_token.LOGIN)
    return found[0] if found and found[1].sent_to == found[0].email else None
