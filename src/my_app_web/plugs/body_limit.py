"""A limit on request bodies (MAX_BODY_BYTES): 413 `{"errors": {"detail": "Request Entity Too Large"}}`.

A declared `Content-Length` over the limit is refused before a byte of the body is read. A body
without one (`Transfer-Encoding: chunked`) is counted as it arrives, and reading stops at the
first chunk past the limit: the route that was reading it gets `RequestEntityTooLarge`, an
HTTPException that the app's error handlers answer with 413. Websocket scopes pass untouched.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY = b'{"errors":{"detail":"Request Entity Too Large"}}'


class RequestEntityTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodyLimitMiddleware:
    """Pure ASGI middleware refusing request bodies over `max_body_bytes`.

    Examples:
        app = BodyLimitMiddleware(app, max_body_bytes=1_048_576)
        # POST with content-length: 2000000      -> 413 at once, the body is never read
        # POST chunked, 2 MB in 64 KB chunks      -> 413 after the 17th chunk
        # POST with content-length: 1000          -> passes, uncounted
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is not None and not chunked:
            # The server reads no more than the declared length (HTTP/1.1 framing), so a body
            # within the limit needs no counting.
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                await _refuse(send)
            else:
                await self.app(scope, receive, send)
            return
        if not chunked:
            # Neither header: an HTTP/1.1 request without a body (RFC 9112, 6.3).
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestEntityTooLarge()
            return message

        await self.app(scope, counting_receive, send)


async def _refuse(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": _BODY})
