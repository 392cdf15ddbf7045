"""Plug.RequestId's rules: every response carries `x-request-id`, and log lines carry it too.

The id is given by the edge's telemetry middleware (`my_app_web.telemetry`), which also times and
logs the request: one middleware frame instead of two.
"""

from __future__ import annotations

import re

from starlette.types import Scope

HEADER = "x-request-id"
HEADER_BYTES = HEADER.encode()
# Like Plug.RequestId: a client's id is kept only when it is 20-200 safe characters.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9+/=_\-]{20,200}$")


def incoming_id(scope: Scope) -> str | None:
    """The client's (or load balancer's) `x-request-id`, when it is a valid one; else None."""
    for name, value in scope.get("headers", ()):
        if name == HEADER_BYTES:
            candidate: str = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.match(candidate) else None
    return None
