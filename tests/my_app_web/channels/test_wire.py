"""Frames built once for many sockets (`wire.py`): the bytes a WebSocket client reads, and when they are written as is.

What a client receives through a real server, with and without compression, is in
test_room_channel.py (`test_joiners_of_one_presence_period_share_...`) and test_transport.py.
"""

from __future__ import annotations

import struct

import orjson
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from my_app_web.channels import connection
from my_app_web.channels.serializer import Frame as PhoenixFrame
from my_app_web.channels.serializer import V1Serializer, V2Serializer
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
