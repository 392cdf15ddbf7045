"""The User schema and its input models (the seed's `user.ex` and its changesets)."""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime

import bcrypt
import pydantic
from sqlalchemy import Enum, String
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import Mapped, mapped_column

from my_app.changeset import Input
from my_app.schema import Base, Timestamps

EMAIL_MAX_LENGTH = 160
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 72  # bcrypt ignores bytes after the 72nd
_EMAIL_FORMAT = re.compile(r"^[^\s@]+@[^\s@]+$")


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class User(Timestamps, Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(CITEXT, unique=True)
    name: Mapped[str] = mapped_column(String(160))
    hashed_password: Mapped[str | None] = mapped_column(String(72))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", values_callable=lambda roles: [role.value for role in roles]),
        default=Role.USER,
        server_default=Role.USER.value,
    )
    confirmed_at: Mapped[datetime | None]

    def __repr__(self) -> str:  # never the password hash
        return f"User(id={self.id!s}, email={self.email!r}, role={self.role.value!r})"


class UserRegistration(Input):
    """What anyone may set when signing up. No `role`: only admins grant roles."""

    email: str = pydantic.Field(max_length=EMAIL_MAX_LENGTH)
    name: str = pydantic.Field(max_length=160)
    password: str | None = pydantic.Field(default=None, min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)

    @pydantic.field_validator("email")
    @classmethod
    def _valid_email(cls, email: str) -> str:
        if not _EMAIL_FORMAT.match(email):
            raise ValueError("must be a valid email")
        return email


def hash_password(password: str) -> str:
    """bcrypt, with a cost of 12 (Bcrypt.hash_pwd_salt's default)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
