"""The JSON serializers on their own: V2 arrays, V1 objects, and what a malformed frame keeps."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from my_app_web.channels.serializer import (
    Frame,
    MalformedFrameError,
    V1Serializer,
    V2Serializer,
    for_version,
)

V2 = V2Serializer()
V1 = V1Serializer()


def v2(*fields: Any) -> str:
    return orjson.dumps(list(fields)).decode()


def v1(**fields: Any) -> str:
    return orjson.dumps(fields).decode()


# --- Versions ---


@pytest.mark.parametrize(
    ("vsn", "kind"),
    [("2.0.0", V2Serializer), ("2.1.0", V2Serializer), ("1.0.0", V1Serializer), (None, V1Serializer)],
)
def test_the_vsn_param_picks_the_serializer(vsn: str | None, kind: type) -> None:
    # No vsn is a 1.x client, as in Phoenix.
    assert isinstance(for_version(vsn), kind)


@pytest.mark.parametrize("vsn", ["3.0.0", "0.9", "", "two"])
def test_an_unknown_vsn_has_no_serializer(vsn: str) -> None:
    assert for_version(vsn) is None


# --- V2: [join_ref, ref, topic, event, payload] ---


def test_v2_decodes_an_array() -> None:
    assert V2.decode(v2("1", "2", "room:lobby", "ping", {"n": 1})) == Frame("1", "2", "room:lobby", "ping", {"n": 1})


def test_v2_decodes_null_refs_and_reads_integer_refs_as_strings() -> None:
    assert V2.decode(v2(None, None, "phoenix", "heartbeat", {})) == Frame(None, None, "phoenix", "heartbeat", {})
    assert V2.decode(v2(3, 4, "t", "e", {})) == Frame("3", "4", "t", "e", {})


def test_v2_encodes_an_array_that_decodes_back() -> None:
    frame = Frame("1", "2", "room:lobby", "phx_reply", {"status": "ok", "response": {"é": [1, None]}})
    text = V2.encode(frame)
    assert orjson.loads(text) == ["1", "2", "room:lobby", "phx_reply", {"status": "ok", "response": {"é": [1, None]}}]
    assert V2.decode(text) == frame


def test_v2_encodes_a_broadcast_without_refs() -> None:
    assert orjson.loads(V2.encode(Frame(None, None, "t", "new_msg", {}))) == [None, None, "t", "new_msg", {}]


def malformed(serializer: V1Serializer | V2Serializer, text: str) -> MalformedFrameError:
    with pytest.raises(MalformedFrameError) as raised:
        serializer.decode(text)
    return raised.value


# Frames whose ref and topic cannot be read: the transport can only close the socket (1003).
V2_UNANSWERABLE = [
    ("not json", "frames must be JSON"),
    ("", "frames must be JSON"),
    ('["1", "2", "t", "e", {}', "frames must be JSON"),
    ("[" * 2000 + "]" * 2000, "frames must be JSON"),  # nested beyond the parser's limit
    (
        '{"topic": "t", "event": "e", "payload": {}, "ref": "1"}',
        "frames must be [join_ref, ref, topic, event, payload]",
    ),
    ('"a string"', "frames must be [join_ref, ref, topic, event, payload]"),
    ("null", "frames must be [join_ref, ref, topic, event, payload]"),
    ("[]", "frames must be [join_ref, ref, topic, event, payload]"),
    (v2("1", "2", "t", "e"), "frames must be [join_ref, ref, topic, event, payload]"),
    (v2("1", "2", "t", "e", {}, "extra"), "frames must be [join_ref, ref, topic, event, payload]"),
    (v2(None, "2", 5, "e", {}), "topic and event must be non-empty strings"),
    (v2(None, "2", None, "e", {}), "topic and event must be non-empty strings"),
    (v2(None, "2", "", "e", {}), "topic and event must be non-empty strings"),
    (v2(None, {"x": 1}, "t", "e", {}), "refs must be strings or null"),
    (v2(None, None, "t", "e", []), "payload must be an object"),
]


@pytest.mark.parametrize(("text", "reason"), V2_UNANSWERABLE)
def test_v2_malformed_frames_without_a_usable_ref_and_topic(text: str, reason: str) -> None:
    error = malformed(V2, text)
    assert str(error) == reason
    assert error.ref is None or error.topic is None


# Frames with a readable ref and topic: the transport answers with an error reply.
@pytest.mark.parametrize(
    ("fields", "reason", "join_ref"),
    [
        (("1", "2", "t", "e", "not an object"), "payload must be an object", "1"),
        (("1", "2", "t", "e", None), "payload must be an object", "1"),
        (("1", "2", "t", "e", [1]), "payload must be an object", "1"),
        (("1", "2", "t", 7, {}), "topic and event must be non-empty strings", "1"),
        (("1", "2", "t", "", {}), "topic and event must be non-empty strings", "1"),
        (("1", "2", "t", None, {}), "topic and event must be non-empty strings", "1"),
        ((["x"], "2", "t", "e", {}), "refs must be strings or null", None),
        ((1.5, "2", "t", "e", {}), "refs must be strings or null", None),
    ],
)
def test_v2_malformed_frames_keep_the_ref_and_topic(fields: tuple[Any, ...], reason: str, join_ref: str | None) -> None:
    error = malformed(V2, v2(*fields))
    assert str(error) == reason
    assert (error.join_ref, error.ref, error.topic) == (join_ref, "2", "t")


@pytest.mark.parametrize("ref", [True, False, 1.5, [], {}])
def test_refs_are_strings_integers_or_null(ref: Any) -> None:
    # A boolean is no ref: it would come back as "True", which no client matches.
    error = malformed(V2, v2(None, ref, "t", "e", {}))
    assert str(error) == "refs must be strings or null"
    assert error.ref is None


# --- V1: {"topic", "event", "payload", "ref", "join_ref"} ---


def test_v1_decodes_an_object_with_or_without_join_ref() -> None:
    assert V1.decode(v1(topic="t", event="e", payload={"a": 1}, ref="2")) == Frame(None, "2", "t", "e", {"a": 1})
    assert V1.decode(v1(topic="t", event="e", payload={}, ref="2", join_ref="1")) == Frame("1", "2", "t", "e", {})
    assert V1.decode(v1(topic="t", event="e", ref=None)) == Frame(None, None, "t", "e", {})


def test_v1_encodes_an_object_that_decodes_back() -> None:
    frame = Frame(None, "2", "phoenix", "phx_reply", {"status": "ok", "response": {}})
    text = V1.encode(frame)
    assert orjson.loads(text) == {
        "join_ref": None,
        "ref": "2",
        "topic": "phoenix",
        "event": "phx_reply",
        "payload": {"status": "ok", "response": {}},
    }
    assert V1.decode(text) == frame


V1_UNANSWERABLE = [
    ("not json", "frames must be JSON"),
    (v2(None, "1", "t", "e", {}), "frames must be objects with topic, event, payload and ref"),
    ("7", "frames must be objects with topic, event, payload and ref"),
    (v1(event="e", payload={}, ref="1"), "topic and event must be non-empty strings"),
    (v1(topic=["t"], event="e", payload={}, ref="1"), "topic and event must be non-empty strings"),
    (v1(topic="t", event="e", payload=[], ref=None), "payload must be an object"),
    (v1(topic="t", event="e", payload={}, ref={"no": 1}), "refs must be strings or null"),
]


@pytest.mark.parametrize(("text", "reason"), V1_UNANSWERABLE)
def test_v1_malformed_frames_without_a_usable_ref_and_topic(text: str, reason: str) -> None:
    error = malformed(V1, text)
    assert str(error) == reason
    assert error.ref is None or error.topic is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"topic": "t", "event": "e", "payload": "x", "ref": "2", "join_ref": "1"}, "payload must be an object"),
        (
            {"topic": "t", "event": 5, "payload": {}, "ref": "2", "join_ref": "1"},
            "topic and event must be non-empty strings",
        ),
        ({"topic": "t", "payload": {}, "ref": "2", "join_ref": "1"}, "topic and event must be non-empty strings"),
    ],
)
def test_v1_malformed_frames_keep_the_ref_and_topic(fields: dict[str, Any], reason: str) -> None:
    error = malformed(V1, orjson.dumps(fields).decode())
    assert str(error) == reason
    assert (error.join_ref, error.ref, error.topic) == ("1", "2", "t")


def test_every_malformed_reason_fits_in_a_close_frame() -> None:
    # The transport closes with "malformed message: <reason>"; a close reason is at most 123 bytes.
    cases = [(V2, text) for text, _ in V2_UNANSWERABLE] + [(V1, text) for text, _ in V1_UNANSWERABLE]
    for serializer, text in cases:
        assert len(f"malformed message: {malformed(serializer, text)}".encode()) <= 123
