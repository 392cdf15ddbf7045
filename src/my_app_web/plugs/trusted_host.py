"""The Host header check (TRUSTED_HOSTS): other hosts are answered 400 `{"errors": {"detail": "Bad Request"}}`.

Starlette's TrustedHostMiddleware, with our JSON error shape and a check that the socket endpoint
can run on its own before the upgrade (sockets are served ahead of the middleware).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = b'{"errors":{"detail":"Bad Request"}}'
# Allowed Host values seen lately, kept as sent (bytes, port included): a hit costs one dict lookup.
# Refused values are never kept, so no client can fill it.
_KNOWN_MAX = 64


class TrustedHosts:
    """Host patterns: names (`example.com`), wildcards (`*.example.com`: subdomains only), or `*`.

    Examples:
        hosts = TrustedHosts(["example.com", "*.example.org"])
        hosts.allows_host(b"example.com:443")   # True (the port is ignored)
        hosts.allows_host(b"api.example.org")   # True
        hosts.allows_host(b"evil.example")      # False
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        hosts = [_pattern(pattern) for pattern in patterns]
        self.allow_any = b"*" in hosts
        self.names = frozenset(host for host in hosts if not host.startswith(b"*"))
        self.suffixes = tuple(host[1:] for host in hosts if host.startswith(b"*."))
        self._known: dict[bytes, None] = {}

    def allows(self, scope: Scope) -> bool:
        """True if the request's Host header is allowed (a request without one is not)."""
        if self.allow_any:
            return True
        for name, value in scope["headers"]:
            if name == b"host":
                return self.allows_host(value)
        return False

    def allows_host(self, value: bytes) -> bool:
        """True if a Host header value (as sent: any case, maybe a port) names an allowed host."""
        if value in self._known:
            return True
        host = _strip_port(value).lower()
        allowed = host in self.names or host.endswith(self.suffixes)
        if allowed and len(self._known) < _KNOWN_MAX:
            self._known[value] = None
        return allowed

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 400 (a socket: 400 before the upgrade, or 403 where the server cannot send one)."""
        if scope["type"] == "http":
            await _send_bad_request(send, "http.")
            return
        if (await receive())["type"] != "websocket.connect":
            return
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await _send_bad_request(send, "websocket.http.")
        else:
            await send({"type": "websocket.close", "code": 1008})

    async def gate(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """For the socket endpoint: True to go on, or False once the refusal is sent."""
        if self.allows(scope):
            return True
        await self.refuse(scope, receive, send)
        return False


class TrustedHostMiddleware:
    """Pure ASGI middleware: requests for other hosts never reach the app.

    Examples:
        app = TrustedHostMiddleware(app, TrustedHosts(["example.com"]))
        # GET / with Host: evil.example -> 400 {"errors": {"detail": "Bad Request"}}
    """

    def __init__(self, app: ASGIApp, hosts: TrustedHosts) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.hosts.allows(scope):
            await self.hosts.refuse(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _pattern(pattern: str) -> bytes:
    pattern = pattern.strip().lower()
    if pattern.count(":") > 1 and not pattern.startswith("["):
        pattern = f"[{pattern}]"  # an IPv6 address, written as browsers send it
    return _strip_port(pattern.encode())


def _strip_port(host: bytes) -> bytes:
    if host.startswith(b"["):  # [::1]:4000
        return host[: host.find(b"]") + 1] or host
    return host.partition(b":")[0]


async def _send_bad_request(send: Send, prefix: str) -> None:
    await send(
        {
            "type": f"{prefix}response.start",
            "status": 400,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())],
        }
    )
    await send({"type": f"{prefix}response.body", "body": _BODY})
