"""Frames built once for many sockets (`wire.py`): the bytes a WebSocket client reads, and when they are written as is.

What a client receives through a real server, with and without compression, is in
test_room_channel.py (`test_joiners_of_one_presence_period_share_...`) and test_transport.py.
"""

from __future__ import annotations

import asyncio
import struct

import orjson
import pytest
from starlette.types import Message
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.streams import StreamReader

from my_app_web.channels import connection
from my_app_web.channels.serializer import Frame as PhoenixFrame
from my_app_web.channels.serializer import V1Serializer, V2Serializer
from my_app_web.channels.socket_handler import SocketHandler
from my_app_web.channels.wire import Outgoing, Wire


def read_frame(data: bytes) -> Frame:
    """`data` parsed as a client parses what a server sends (unmasked), with nothing left over."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
    else:  # pragma: no cover - the whole frame was fed
        raise AssertionError("the frame is incomplete")
    assert reader.at_eof()
    return frame


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 3_000_000])
def test_an_outgoing_frame_is_one_unmasked_text_frame_of_its_payload(size: int) -> None:
    payload = ("é" * (size // 2) + "x" * (size % 2)).encode()
    outgoing = Outgoing.of(payload)

    frame = read_frame(outgoing.data)
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)
    assert outgoing.data[outgoing.start :] == payload
    # Its text, for ASGI `send`, is made once and shared.
    assert outgoing.text == payload.decode()
    assert outgoing.text is outgoing.text


def test_the_length_takes_the_shortest_of_the_three_encodings() -> None:
    assert Outgoing.of(b"x" * 125).data[:2] == bytes((0x81, 125))
    assert Outgoing.of(b"x" * 126).data[:4] == bytes((0x81, 126)) + struct.pack("!H", 126)
    assert Outgoing.of(b"x" * 65_536).data[:10] == bytes((0x81, 127)) + struct.pack("!Q", 65_536)


def test_a_send_that_is_not_uvicorns_has_no_wire() -> None:
    async def send(message: object) -> None:
        return None

    assert Wire.behind(send) is None
    assert Wire.behind(object()) is None


@pytest.mark.parametrize("serializer", [V2Serializer(), V1Serializer()], ids=["v2", "v1"])
def test_a_shared_payload_is_framed_once_per_join_ref(serializer: V1Serializer | V2Serializer) -> None:
    encoded = orjson.dumps({"user-1": {"metas": [{"phx_ref": "a"}]}})
    state = orjson.Fragment(encoded)

    def push(join_ref: str, payload: object = state) -> Outgoing:
        return connection._encode(serializer, PhoenixFrame(join_ref, None, "room:lobby", "presence_state", payload))

    first = push("1")
    assert push("1") is first  # the next joiner with the same join_ref: the same bytes
    other = push("7")
    assert other is not first
    for outgoing, join_ref in ((first, "1"), (other, "7")):
        decoded = serializer.decode(outgoing.text)
        assert decoded == PhoenixFrame(join_ref, None, "room:lobby", "presence_state", orjson.loads(encoded))
    # A new state (the next presence period) is framed anew; a plain payload is never shared.
    assert push("1", orjson.Fragment(encoded)) is not first
    assert push("1", {"x": 1}) is not push("1", {"x": 1})


class _Transport:
    def __init__(self, *, closing: bool = False, lost: bool = False) -> None:
        self.closing, self.lost = closing, lost
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data: bytes) -> None:
        if self.lost:
            raise RuntimeError("unable to perform operation: the handler is closed")  # what uvloop raises
        self.written.append(data)


class _Protocol:
    """The attributes of uvicorn's websockets-sansio protocol that `Wire` reads, for an open socket."""

    def __init__(self, transport: _Transport) -> None:
        self.transport = transport
        self.handshake_complete, self.initial_response, self.close_sent, self.disconnected = True, None, False, False
        self.conn = type("Conn", (), {"state": State.OPEN, "extensions": []})()
        self.writable = asyncio.Event()
        self.writable.set()


def socket_on(transport: _Transport) -> tuple[connection.Connection, list[Message]]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "websocket.disconnect"}

    socket = connection.Connection({"type": "websocket"}, receive, send, SocketHandler())
    socket.serializer = V2Serializer()
    socket.wire = Wire(_Protocol(transport))
    return socket, sent


async def test_an_open_socket_gets_the_frame_on_its_transport_not_through_asgi() -> None:
    transport = _Transport()
    socket, sent = socket_on(transport)
    socket.send(PhoenixFrame(None, None, "room:lobby", "tick", {"n": 1}))
    assert [read_frame(data).data for data in transport.written] == [b'[null,null,"room:lobby","tick",{"n":1}]']
    assert sent == []


async def test_a_socket_whose_transport_is_closing_or_gone_is_written_through_asgi_or_not_at_all() -> None:
    closing = _Transport(closing=True)
    socket, sent = socket_on(closing)
    socket.send(PhoenixFrame(None, None, "room:lobby", "tick", {"n": 1}))
    await asyncio.sleep(0)
    assert closing.written == []
    assert sent == [{"type": "websocket.send", "text": '[null,null,"room:lobby","tick",{"n":1}]'}]  # uvicorn decides

    gone = _Transport(lost=True)
    socket, sent = socket_on(gone)
    socket.send(PhoenixFrame(None, None, "room:lobby", "tick", {"n": 2}))  # dropped, never raised to the sender
    assert (gone.written, sent, socket.writer) == ([], [], None)
