"""The Accounts context: users (the seed's `accounts.ex`). The web layer calls only these functions.

Registration writes the user and enqueues the welcome email in one transaction: both or neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from my_app import jobs, repo
from my_app.accounts.user import Role, User, UserRegistration, hash_password
from my_app.changeset import cast
from my_app.errors import NotFoundError, ValidationError

__all__ = [
    "Role",
    "User",
    "create_user",
    "delete_user",
    "get_user",
    "get_user_by_email",
    "get_user_or_404",
    "list_users",
    "register_user",
]


async def list_users() -> list[User]:
    """All users, oldest first.

    Examples:
        await list_users()  # [User(...), ...]
    """
    async with repo.transaction() as session:
        return list(await session.scalars(select(User).order_by(User.inserted_at, User.id)))


async def get_user(user_id: uuid.UUID) -> User | None:
    """The user with this id, or None.

    Examples:
        await get_user(user.id)       # User(...)
        await get_user(uuid.uuid4())  # None
    """
    async with repo.transaction() as session:
        return await session.get(User, user_id)


async def get_user_or_404(user_id: uuid.UUID) -> User:
    """The user with this id; raises NotFoundError when there is none (`get_user!`)."""
    user = await get_user(user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    return user


async def get_user_by_email(email: str) -> User | None:
    """The user with this email (any letter case), or None."""
    async with repo.transaction() as session:
        return await session.scalar(select(User).where(User.email == email))


async def create_user(attrs: Mapping[str, Any]) -> User:
    """Create a user; raises ValidationError (nothing written) on invalid input or a taken email.

    Examples:
        await create_user({"email": "ada@example.com", "name": "Ada"})  # User(...)
        await create_user({"email": None})  # ValidationError({"email": ["can't be blank"], ...})
    """
    return await _insert_user(cast(UserRegistration, attrs), welcome=False)


async def register_user(attrs: Mapping[str, Any]) -> User:
    """Create a user and enqueue the welcome email in the same transaction.

    Examples:
        await register_user({"email": "ada@example.com", "name": "Ada", "password": "a long passphrase"})
    """
    return await _insert_user(cast(UserRegistration, attrs), welcome=True)


async def delete_user(user: User) -> User:
    """Delete the user; pending jobs about them are cancelled when they run."""
    async with repo.transaction() as session:
        await session.delete(await session.merge(user))
    return user


async def _insert_user(registration: UserRegistration, *, welcome: bool) -> User:
    from my_app.workers import email_worker  # the worker looks users up here: import it late

    user = User(
        email=registration.email,
        name=registration.name,
        hashed_password=hash_password(registration.password) if registration.password else None,
        role=Role.USER,
    )
    try:
        async with repo.transaction() as session:
            session.add(user)
            await session.flush()
            if welcome:
                await jobs.enqueue(session, email_worker.deliver_email, type="welcome", user_id=str(user.id))
    except IntegrityError as exc:
        if "users_email_key" in str(exc.orig):
            raise ValidationError({"email": ["has already been taken"]}) from None
        raise
    return user
