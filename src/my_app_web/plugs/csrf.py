"""CSRF protection for browser forms (Plug.CSRFProtection): a secret token bound to the session.

Every page with a form renders `csrf_token(request)` into a hidden `_csrf_token` field (or, for
htmx, the `x-csrf-token` header); `verify_csrf` refuses a state-changing request whose token is
missing or is not the session's with 403. A log-in starts a new session and so a new token.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

from my_app.errors import ForbiddenError

SESSION_KEY = "_csrf_token"
FORM_FIELD = "_csrf_token"
HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


async def verify_csrf(request: Request) -> None:
    """A dependency for form routes: 403 unless the request carries the session's CSRF token.

    Examples:
        @router.post("/users/log-out", dependencies=[Depends(verify_csrf)])
    """
    if request.method in _SAFE_METHODS:
        return
    expected = request.session.get(SESSION_KEY)
    given = request.headers.get(HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get(FORM_FIELD)
        given = field if isinstance(field, str) else None
    if not isinstance(expected, str) or given is None or not hmac.compare_digest(expected, given):
        raise ForbiddenError("invalid CSRF token")
