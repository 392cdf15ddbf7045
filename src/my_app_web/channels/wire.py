"""Frames encoded once and written to many sockets: straight to uvicorn's transport when it serves them.

Through ASGI, uvicorn (websockets-sansio) frames every `websocket.send` itself: it encodes the
text to UTF-8, builds the WebSocket frame and writes it, for each socket. A broadcast to N
sockets is then N encodings and N frames, and the presence_state that every joiner of a large
room is sent (megabytes: every user in the room) is copied twice more per joiner before the
kernel copies it once. A frame from the server is not masked, so its bytes are the same for every
socket: an `Outgoing` is built once (`Outgoing.of`, the header and the JSON in one bytes object)
and `Wire` writes that object to each socket's transport.

`Wire` only writes where uvicorn's own `send` would, and as it would: the handshake is done and
no HTTP answer was started, no close was sent or received, the client is still there, and no
extension (permessage-deflate) rewrites the frames; while the transport is paused (the client
reads slowly) the caller waits for `writable`, as uvicorn's `send` waits. Anywhere else, including
any server but uvicorn's websockets-sansio protocol, the connection writes through ASGI `send`
(`Outgoing.text`), so the frames a client receives are the same either way.
"""

from __future__ import annotations

import struct
from typing import Any

from websockets.protocol import State

try:  # the server `myapp server` runs; any other one is written to through ASGI
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - uvicorn is a dependency of the app
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

_OP_TEXT_FIN = 0x81


class Outgoing:
    """One text frame, encoded once however many sockets it goes to: the frame's bytes, and its text."""

    __slots__ = ("_text", "data", "start")

    def __init__(self, data: bytes, start: int) -> None:
        self.data = data  # the whole WebSocket frame: header, then the UTF-8 JSON
        self.start = start  # where the JSON starts
        self._text: str | None = None

    @classmethod
    def of(cls, payload: bytes) -> Outgoing:
        """The unmasked, unfragmented text frame carrying `payload` (UTF-8), as a server sends it."""
        n = len(payload)
        if n < 126:
            header = bytes((_OP_TEXT_FIN, n))
        elif n < 1 << 16:
            header = struct.pack("!BBH", _OP_TEXT_FIN, 126, n)
        else:
            header = struct.pack("!BBQ", _OP_TEXT_FIN, 127, n)
        return cls(header + payload, len(header))

    @property
    def text(self) -> str:
        """The frame's JSON as text, for ASGI `send` (made on first use, then kept for the next socket)."""
        if self._text is None:
            self._text = self.data[self.start :].decode()
        return self._text


class Wire:
    """The transport of uvicorn's websockets-sansio protocol that serves one socket."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    @classmethod
    def behind(cls, send: Any) -> Wire | None:
        """The wire behind an ASGI `send`, if uvicorn's websockets-sansio protocol serves it (else None)."""
        protocol = getattr(send, "__self__", None)
        if WebSocketsSansIOProtocol is None or not isinstance(protocol, WebSocketsSansIOProtocol):
            return None
        return cls(protocol)

    def open(self) -> bool:
        """Whether a data frame may be written now or once the transport resumes (what uvicorn's `send` checks)."""
        protocol = self.protocol
        return (
            protocol.handshake_complete
            and protocol.initial_response is None
            and not protocol.close_sent
            and not protocol.disconnected
            and protocol.conn.state is State.OPEN
            and not protocol.conn.extensions
            and not protocol.transport.is_closing()  # uvloop raises once the socket is gone
        )

    def writable(self) -> bool:
        """False while the transport is paused: its buffer is over the high-water mark."""
        return bool(self.protocol.writable.is_set())

    async def wait_writable(self) -> None:
        """Until the transport resumes (or is lost: uvicorn sets `writable` then too)."""
        await self.protocol.writable.wait()

    def write(self, outgoing: Outgoing) -> None:
        self.protocol.transport.write(outgoing.data)
