"""Security headers on every response (Phoenix's `put_secure_browser_headers`, plus a CSP for pages).

Every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy: strict-origin-when-cross-origin`,
`X-Frame-Options: DENY`; HTML also gets `PAGE_POLICY` as its Content-Security-Policy (scripts and
styles from our own origin only: no inline ones, no CDN); in prod, HSTS too. A header the route set
itself is kept (the dev mailbox frames an email's HTML part under its own policy).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
HSTS = "max-age=31536000; includeSubDomains"

_EVERY_RESPONSE: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
)
_CSP = b"content-security-policy"
_OURS = frozenset({name for name, _ in _EVERY_RESPONSE} | {_CSP, b"strict-transport-security"})

Headers = tuple[tuple[bytes, bytes], ...]


class SecurityHeadersMiddleware:
    """Pure ASGI middleware adding the headers to each HTTP response's start message.

    Examples:
        app = SecurityHeadersMiddleware(app, hsts=settings.env == "prod")
        # GET /      -> ... content-security-policy: default-src 'self'; frame-ancestors 'none'; ...
        # GET /api/x -> x-content-type-options: nosniff, referrer-policy: ..., x-frame-options: DENY
    """

    def __init__(self, app: ASGIApp, *, hsts: bool, page_policy: str = PAGE_POLICY) -> None:
        self.app = app
        # Built once: a response only chooses between these two tuples.
        self.common: Headers = _EVERY_RESPONSE + (((b"strict-transport-security", HSTS.encode()),) if hsts else ())
        self.page: Headers = (*self.common, (_CSP, page_policy.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self.with_headers(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def with_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """`headers` plus ours (the page set for HTML), except those the response already has."""
        headers = list(headers)  # a new list: a response object may be sent twice, and must not grow
        html = False
        own: set[bytes] | None = None
        for name, value in headers:  # Starlette sends lower-case names
            if name == b"content-type":
                html = value.startswith(b"text/html")
            elif name in _OURS:
                own = own or set()
                own.add(name)
        ours = self.page if html else self.common
        headers.extend(ours if own is None else (header for header in ours if header[0] not in own))
        return headers
