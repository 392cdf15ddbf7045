"""The User schema and its input models (the seed's `user.ex` and its changesets)."""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime
from typing import Annotated

import bcrypt
import pydantic
from sqlalchemy import Enum, Index, String
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import Mapped, mapped_column

from my_app.changeset import Input
from my_app.schema import Base, Timestamps

EMAIL_MAX_LENGTH = 160
NAME_MAX_LENGTH = 160
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 72  # bcrypt ignores bytes after the 72nd
LOCALE_MAX_LENGTH = 16
_EMAIL_FORMAT = re.compile(r"^[^\s@]+@[^\s@]+$")


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class User(Timestamps, Base):
    __tablename__ = "users"
    # Keyset pagination walks users in (inserted_at, id) order.
    __table_args__ = (Index("users_inserted_at_id_index", "inserted_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(CITEXT, unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    hashed_password: Mapped[str | None] = mapped_column(String(72))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", values_callable=lambda roles: [role.value for role in roles]),
        default=Role.USER,
        server_default=Role.USER.value,
    )
    confirmed_at: Mapped[datetime | None]
    # The language pages and emails use for this user (one of my_app.gettext.LOCALES); None: the
    # browser's choice for pages, the default for emails.
    locale: Mapped[str | None] = mapped_column(String(LOCALE_MAX_LENGTH))

    def __repr__(self) -> str:  # never the password hash
        return f"User(id={self.id!s}, email={self.email!r}, role={self.role.value!r})"


def _check_email(email: str) -> str:
    if not _EMAIL_FORMAT.match(email):
        raise ValueError("must be a valid email")
    return email


def _check_password_bytes(password: str) -> str:
    # bcrypt refuses more than 72 bytes: 72 characters of "é" are 144 (Ecto's `count: :bytes`).
    if len(password.encode()) > PASSWORD_MAX_LENGTH:
        raise ValueError(f"should be at most {PASSWORD_MAX_LENGTH} byte(s)")
    return password


Email = Annotated[str, pydantic.Field(max_length=EMAIL_MAX_LENGTH), pydantic.AfterValidator(_check_email)]
Name = Annotated[str, pydantic.Field(max_length=NAME_MAX_LENGTH)]
# Never trimmed (unlike other input): log-in checks the password exactly as typed.
Password = Annotated[
    str,
    pydantic.StringConstraints(strip_whitespace=False, min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH),
    pydantic.AfterValidator(_check_password_bytes),
]


class UserCreate(Input):
    """What `create_user` casts: no `role` (fields it does not cast are ignored, as Ecto's cast)."""

    email: Email
    name: Name
    password: Password | None = None


class UserRegistration(UserCreate):
    """Self-registration: a password is required. No `role`: only admins grant roles."""

    password: Password


class AdminUserCreate(UserCreate):
    """An admin creating an account may choose its role."""

    role: Role = Role.USER


class UserUpdate(Input):
    """What users may change about themselves directly (email and password have their own flows)."""

    name: Name | None = None


class AdminUserUpdate(Input):
    """What an admin may change on any account."""

    name: Name | None = None
    email: Email | None = None
    role: Role | None = None


class UserEmailChange(Input):
    email: Email


class UserPasswordChange(Input):
    password: Password


def hash_password(password: str) -> str:
    """bcrypt with the configured cost (BCRYPT_ROUNDS; 12 by default, 4 in tests)."""
    from my_app.config import get_settings

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(get_settings().bcrypt_rounds or 12)).decode()


def verify_password(user: User | None, password: str) -> bool:
    """True when `password` is the user's. Without a user, checks a dummy hash so that the time
    taken does not tell whether the email exists (Bcrypt.no_user_verify)."""
    hashed = user.hashed_password if user is not None and user.hashed_password else _dummy_hash()
    matches = bcrypt.checkpw(password.encode()[:PASSWORD_MAX_LENGTH], hashed.encode())
    return matches and user is not None and user.hashed_password is not None


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password("dummy password, never a real one"))
    return _DUMMY[0]
