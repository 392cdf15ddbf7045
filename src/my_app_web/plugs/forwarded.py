"""Forwarded headers (`X-Forwarded-For`, `X-Forwarded-Proto`), believed only from TRUSTED_PROXIES.

uvicorn's ProxyHeadersMiddleware does the work (IPs and CIDRs; the client is the right-most
address in `X-Forwarded-For` that is not a trusted proxy); the server itself trusts no one
(`myapp server` turns uvicorn's own proxy-header handling off). With no trusted proxies the
headers are ignored and the client is the connection's peer. `client_ip(request)` reads the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class ForwardedHeaders:
    """Rewrites a scope's `client` and `scheme` from the headers a trusted proxy set.

    Examples:
        forwarded = ForwardedHeaders(["10.0.0.0/8"])
        app = forwarded.wrap(app)                       # HTTP: middleware
        await forwarded.gate(scope, receive, send)      # a socket: rewrite and return (always True)
        # peer 10.0.0.5, X-Forwarded-For: 203.0.113.7   -> client 203.0.113.7
        # peer 198.51.100.1, X-Forwarded-For: 1.2.3.4   -> client 198.51.100.1 (not a trusted proxy)
    """

    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        self.trusted_proxies = list(trusted_proxies)
        # The middleware in front of an app that returns at once: awaiting it only rewrites the scope.
        self._rewrite = self.wrap(_done)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """`app` behind uvicorn's ProxyHeadersMiddleware, trusting these proxies only."""
        return cast("ASGIApp", ProxyHeadersMiddleware(cast("Any", app), trusted_hosts=self.trusted_proxies))

    async def gate(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Rewrite `scope` and return, keeping no frame for as long as an open socket lives."""
        await self._rewrite(scope, receive, send)
        return True


async def _done(scope: Scope, receive: Receive, send: Send) -> None:
    return None
