"""Phoenix's JSON serializers: V2 frames are arrays, V1 frames are objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson


class MalformedFrameError(ValueError):
    """A frame that is not a Phoenix message; `ref`/`topic` are kept when they could be read."""

    def __init__(self, reason: str, *, ref: str | None = None, join_ref: str | None = None, topic: str | None = None):
        super().__init__(reason)
        self.ref, self.join_ref, self.topic = ref, join_ref, topic


@dataclass(frozen=True, slots=True)
class Frame:
    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Any


class Serializer(Protocol):
    def decode(self, text: str) -> Frame: ...

    def encode(self, frame: Frame) -> str: ...

    def encode_utf8(self, frame: Frame) -> bytes:
        """`encode(frame)` as the UTF-8 bytes a text frame carries."""
        ...


def _is_ref(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _frame(join_ref: Any, ref: Any, topic: Any, event: Any, payload: Any) -> Frame:
    """Check decoded fields; a MalformedFrameError keeps whichever of ref, join_ref and topic are usable."""
    usable_ref = str(ref) if ref is not None and _is_ref(ref) else None
    usable_join_ref = str(join_ref) if join_ref is not None and _is_ref(join_ref) else None
    usable_topic = topic if isinstance(topic, str) and topic else None
    kept = {"ref": usable_ref, "join_ref": usable_join_ref, "topic": usable_topic}
    if not _is_ref(ref) or not _is_ref(join_ref):
        raise MalformedFrameError("refs must be strings or null", **kept)
    if usable_topic is None or not isinstance(event, str) or not event:
        raise MalformedFrameError("topic and event must be non-empty strings", **kept)
    if not isinstance(payload, dict):
        raise MalformedFrameError("payload must be an object", **kept)
    return Frame(usable_join_ref, usable_ref, usable_topic, event, payload)


class V2Serializer:
    """`[join_ref, ref, topic, event, payload]` (vsn=2.0.0, the JS client's default)."""

    def decode(self, text: str) -> Frame:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise MalformedFrameError("frames must be JSON") from None
        if not isinstance(data, list) or len(data) != 5:
            raise MalformedFrameError("frames must be [join_ref, ref, topic, event, payload]")
        return _frame(*data)

    def encode(self, frame: Frame) -> str:
        return self.encode_utf8(frame).decode()

    def encode_utf8(self, frame: Frame) -> bytes:
        return orjson.dumps([frame.join_ref, frame.ref, frame.topic, frame.event, frame.payload])


class V1Serializer:
    """`{"topic", "event", "payload", "ref", "join_ref"}` (vsn=1.0.0, older clients)."""

    def decode(self, text: str) -> Frame:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise MalformedFrameError("frames must be JSON") from None
        if not isinstance(data, dict):
            raise MalformedFrameError("frames must be objects with topic, event, payload and ref")
        return _frame(
            data.get("join_ref"), data.get("ref"), data.get("topic"), data.get("event"), data.get("payload", {})
        )

    def encode(self, frame: Frame) -> str:
        return self.encode_utf8(frame).decode()

    def encode_utf8(self, frame: Frame) -> bytes:
        return orjson.dumps(
            {
                "join_ref": frame.join_ref,
                "ref": frame.ref,
                "topic": frame.topic,
                "event": frame.event,
                "payload": frame.payload,
            }
        )


def for_version(vsn: str | None) -> Serializer | None:
    """The serializer for the client's `vsn` parameter; None for a version we do not speak."""
    if vsn is None or vsn.startswith("1."):
        return V1Serializer()
    if vsn.startswith("2."):
        return V2Serializer()
    return None
