"""UserToken: sessions, API tokens and the single-use tokens that emails carry (phx.gen.auth's).

A token is 32 random bytes, handed out url-safe base64 encoded. The database keeps only its
SHA-256 hash, so a leaked `user_tokens` table lets nobody log in or reset a password.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from my_app import repo
from my_app.encoding import b64url_decode, b64url_encode
from my_app.schema import Base

TOKEN_BYTES = 32

# How long each kind of token is valid (phx.gen.auth's, plus API tokens).
SESSION_VALIDITY = timedelta(days=60)
API_VALIDITY = timedelta(days=365)
RESET_PASSWORD_VALIDITY = timedelta(days=1)
CONFIRM_VALIDITY = timedelta(days=7)
CHANGE_EMAIL_VALIDITY = timedelta(days=7)
MAGIC_LINK_VALIDITY = timedelta(minutes=15)

SESSION = "session"
API = "api"
CONFIRM = "confirm"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a context name, not a password
LOGIN = "login"
CHANGE_EMAIL_PREFIX = "change:"

VALIDITY: dict[str, timedelta] = {
    SESSION: SESSION_VALIDITY,
    API: API_VALIDITY,
    CONFIRM: CONFIRM_VALIDITY,
    RESET_PASSWORD: RESET_PASSWORD_VALIDITY,
    LOGIN: MAGIC_LINK_VALIDITY,
}


def validity(context: str) -> timedelta:
    if context.startswith(CHANGE_EMAIL_PREFIX):
        return CHANGE_EMAIL_VALIDITY
    return VALIDITY[context]


class UserToken(Base):
    __tablename__ = "user_tokens"
    __table_args__ = (UniqueConstraint("context", "token"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token: Mapped[bytes] = mapped_column(LargeBinary)
    context: Mapped[str] = mapped_column(String(255))
    sent_to: Mapped[str | None] = mapped_column(String(160))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # When the user proved who they are (password, magic link): sudo mode counts from here.
    authenticated_at: Mapped[datetime | None]
    inserted_at: Mapped[datetime] = mapped_column(server_default=func.now())


def build_token(user_id: uuid.UUID, context: str, *, sent_to: str | None = None) -> tuple[str, UserToken]:
    """A new random token: the url-safe string to hand out and the row that stores its hash."""
    raw = secrets.token_bytes(TOKEN_BYTES)
    encoded = b64url_encode(raw)
    row = UserToken(token=hash_token(raw), context=context, sent_to=sent_to, user_id=user_id)
    return encoded, row


async def insert_token(
    user_id: uuid.UUID, context: str, *, sent_to: str | None = None, authenticated_at: datetime | None = None
) -> str:
    """Store a new token's hash (in its own transaction) and return the token to hand out."""
    encoded, row = build_token(user_id, context, sent_to=sent_to)
    row.authenticated_at = authenticated_at
    async with repo.transaction() as session:
        session.add(row)
    return encoded


def decode_token(encoded: str) -> bytes | None:
    """The raw bytes of a handed-out token, or None when it is not a token we could have made."""
    raw = b64url_decode(encoded)
    return raw if raw is not None and len(raw) == TOKEN_BYTES else None


def hash_token(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()
