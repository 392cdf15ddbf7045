"""The `/socket/websocket` endpoint (Phoenix's `socket "/socket", UserSocket`): a `Connection` per WebSocket.

`my_app_web.endpoint.Endpoint.socket()` serves it before the router and the middleware, as
Phoenix's endpoint does with `socket/3`. Before anything else it checks the page's origin
(`origin_check.py`, the `CHECK_ORIGIN` setting): a refused origin gets HTTP 403, as a refused
connect does, and no `Connection` is made.
"""

from __future__ import annotations

import logging

from starlette.types import Receive, Scope, Send

from my_app_web.channels.connection import Connection, refuse
from my_app_web.channels.origin_check import OriginCheck, origin_of
from my_app_web.channels.socket_handler import SocketHandler

logger = logging.getLogger(__name__)


class SocketEndpoint:
    """The ASGI app of one socket module; `check_origin` None accepts every origin.

    Examples:
        SocketEndpoint(UserSocket(settings), check_origin=OriginCheck.from_settings(settings))
    """

    __slots__ = ("check_origin", "handler")

    def __init__(self, handler: SocketHandler, *, check_origin: OriginCheck | None = None) -> None:
        self.handler = handler
        self.check_origin = check_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            raise ValueError(f"a socket endpoint serves WebSockets, not {scope['type']!r}")
        if self.check_origin is not None:
            origin = origin_of(scope)  # none: not a browser, as Phoenix allows
            if origin is not None and not self.check_origin.allows(origin):
                if (await receive())["type"] == "websocket.connect":
                    logger.warning("refused a socket from origin %r (not allowed by CHECK_ORIGIN)", origin)
                    await refuse(send)
                return
        await Connection(scope, receive, send, self.handler).serve()
