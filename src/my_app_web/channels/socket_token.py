"""Signed, expiring socket tokens (Phoenix.Token): who may open a socket, for 24 hours.

A token carries the user's id and the row id of the credential it was minted from (an API token
or a browser session; never the credential itself). Connect checks that this credential still
exists, so logging it out, or changing the password (which deletes every credential of the user),
makes its socket tokens worthless at once — and closes the sockets already open with them. A token
naming no credential is refused: even whoever holds the signing key cannot mint one that outlives,
or goes without, a real log-in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

from my_app.config import Settings

MAX_AGE = timedelta(hours=24)
_SALT = "user socket"


@dataclass(frozen=True)
class SocketClaims:
    user_id: uuid.UUID
    credential_id: uuid.UUID


def sign(settings: Settings, user_id: uuid.UUID, credential_id: uuid.UUID) -> str:
    """A token for `user_id`'s sockets, bound to the credential (`accounts.Credential.id`) it comes from.

    Examples:
        credential = await accounts.get_credential(api_token, "api")
        sign(settings, credential.user.id, credential.id)  # "eyJ1c2VyX2lkIjoi..."
    """
    return _serializer(settings).dumps({"user_id": str(user_id), "credential_id": str(credential_id)})


def verify(settings: Settings, token: str) -> SocketClaims | None:
    """The claims of a token we signed within the last 24 hours, else None (also for one naming no credential).

    Examples:
        verify(settings, sign(settings, user.id, credential.id))  # SocketClaims(user_id=..., credential_id=...)
        verify(settings, "forged")                                # None
    """
    try:
        data = _serializer(settings).loads(token, max_age=int(MAX_AGE.total_seconds()))
        return SocketClaims(uuid.UUID(data["user_id"]), uuid.UUID(data["credential_id"]))
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key_base or "", salt=_SALT)
