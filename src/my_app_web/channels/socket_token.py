"""Signed, expiring socket tokens (Phoenix.Token): who may open a socket, for 24 hours.

A token carries the user's id and the id of the credential it was issued for (an API token or a
browser session), so logging that credential out closes exactly the sockets opened with it.
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
    socket_id: str | None


def sign(settings: Settings, user_id: uuid.UUID, socket_id: str | None) -> str:
    return _serializer(settings).dumps({"user_id": str(user_id), "socket_id": socket_id})


def verify(settings: Settings, token: str) -> SocketClaims | None:
    """The claims of a token we signed within the last 24 hours, else None."""
    try:
        data = _serializer(settings).loads(token, max_age=int(MAX_AGE.total_seconds()))
        socket_id = data.get("socket_id")
        return SocketClaims(uuid.UUID(data["user_id"]), socket_id if isinstance(socket_id, str) else None)
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key_base or "", salt=_SALT)
