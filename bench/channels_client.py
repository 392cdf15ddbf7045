"""The load client of `bench.channels_scale`: thousands of Phoenix-protocol WebSockets in one process.

    .venv/bin/python -m bench.channels_client        # started by bench.channels_scale, never by hand

Built to cost far less than the server it loads, so the figures are the server's:

- one `asyncio.Protocol` object per socket on uvloop, with `__slots__`: no task, no coroutine and
  no queue per socket (a task exists only while a batch of sockets connects);
- its own WebSocket framing (RFC 6455, client side): text frames masked as the RFC requires,
  pings answered; permessage-deflate offered only when asked (`--deflate`: browsers offer it),
  then the server's compressed messages are inflated (the client sends its own uncompressed);
- a frame is JSON-decoded only when it matters (the join reply and the broadcasts measured), and a
  frame's kind is read from its first bytes, never by scanning the whole of it;
- each socket's presence list is followed as the JS client's `Presence.syncState`/`syncDiff` would
  (`PresenceBook`): only its size is kept, as a shared `View` (a bit per presence). Identical
  frames are parsed once per process: every joiner of one server flush period gets the same
  presence_state, every socket the same presence_diff; a large frame is compared, piece by piece
  as it arrives, with the ones already parsed, and kept only when it is new;
- one time stamp (`time.monotonic()`, CLOCK_MONOTONIC: the same clock in every process of the
  machine) per measured frame, written into a preallocated `array('d')`;
- heartbeats (`phoenix` `heartbeat`, every 30 s per socket from its join, like the JS client) from
  one timer that looks at every joined socket once a second.

The controller talks to it over stdin/stdout, one JSON object per line: `connect`, `arm`, `push`,
`collect`, `stats`, `presence`, `close`, `quit`; each command's answer carries its `id`. Unprompted lines carry
an `event` (`ready` at start, `complete` when every joined socket received an armed broadcast).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import math
import os
import resource
import struct
import sys
import time
import zlib
from array import array
from typing import Any

import orjson
import uvloop

HEARTBEAT_SECONDS = 30
HANDSHAKE, JOINING, JOINED, CLOSED = range(4)
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
BODY_PREFIX = "bench-"
HEAD = 160  # a frame's kind is read from its first bytes: [join_ref, ref, topic, event, ...
STREAM_MIN = 1 << 16  # frames at least this long are compared with known ones as they arrive


def raise_open_files_limit(wanted: int | None = None) -> tuple[int, int]:
    """Raise this process's open-files soft limit to the hard limit (or `wanted`, when allowed)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(hard, wanted or 0) if hard != resource.RLIM_INFINITY else (wanted or 1 << 20)
    for limit in (target, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, hard)))
            break
        except (ValueError, OSError):  # above the hard limit without CAP_SYS_RESOURCE
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (FIN set)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    if not n:
        return header + mask
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return header + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


# --- Presence lists ---


class View:
    """One presence list as some sockets see it: a bit per presence (phx_ref), and how many keys it lists.

    Sockets that saw the same frames share one View, and a diff turns a View into the next once
    (`memo`), however many sockets it reaches.
    """

    __slots__ = ("count", "mask", "memo")

    def __init__(self, mask: int, count: int) -> None:
        self.mask = mask
        self.count = count
        self.memo: dict[int, View] = {}  # id of a diff -> the View it makes of this one


class PresenceFrame:
    """One distinct presence_state or presence_diff frame, parsed once: its bits."""

    __slots__ = ("id", "joins", "leaves", "payload", "view")
    ids = itertools.count(1)  # not id(): a View's memo outlives the frames the book forgets

    def __init__(self, payload: bytes, view: View | None, joins: int = 0, leaves: int = 0) -> None:
        self.payload = payload
        self.view = view  # a presence_state: the list it is
        self.joins = joins  # a presence_diff: the presences it adds, then those it removes
        self.leaves = leaves
        self.id = next(self.ids)


class PresenceBook:
    """The presence lists of this process's sockets, as the Phoenix JS client would hold them.

    `Presence.syncState` makes a socket's list the state it was sent; `Presence.syncDiff` adds the
    diff's joins (metas merged by phx_ref) then removes its leaves (a key goes once it has no
    meta left); diffs that arrive before the socket's first presence_state wait for it, as the JS
    client keeps them in `pendingDiffs`. A list is a set of phx_refs (bits, numbered by this book)
    and its size is the number of distinct keys among them. Keys and refs are read raw from the
    JSON (the app's are uuids and url-safe tokens: nothing to unescape).
    """

    STATE_SPLIT = b':{"metas":['
    REF = b'"phx_ref":"'
    MEMO_PER_LENGTH = 8
    PIECES_MAX = 400_000

    def __init__(self) -> None:
        self.bits: dict[bytes, int] = {}  # phx_ref -> its bit
        self.key_bits: dict[bytes, list[int]] = {}  # key -> the bits of its refs (several: tabs)
        self.multi_mask = 0  # the bits of keys that have had several refs
        self.multi_keys: list[list[int]] = []
        self.memo: dict[int, list[PresenceFrame]] = {}  # payload length -> recent distinct frames
        self.pieces: dict[bytes, tuple[int, ...]] = {}  # one key's part of a state -> its bits
        self.parsed = 0
        self.parse_seconds = 0.0

    # --- Frames ---

    def known(self, payload: bytes) -> PresenceFrame | None:
        for frame in self.memo.get(len(payload), ()):
            if frame.payload == payload:
                return frame
        return None

    def candidates(self, length: int) -> list[PresenceFrame]:
        return list(self.memo.get(length, ()))

    def parse(self, payload: bytes, kind: bytes) -> PresenceFrame:
        """A new distinct frame (`kind` b"presence_state" or b"presence_diff"), remembered for the next sockets."""
        started = time.process_time()
        if kind == b"presence_state":
            frame = PresenceFrame(payload, self.view(self._mask(self._state_bits(payload))))
        else:
            diff = orjson.loads(payload)[4]
            frame = PresenceFrame(
                payload,
                None,
                joins=self._mask(self._diff_bits(diff.get("joins") or {})),
                leaves=self._mask(self._diff_bits(diff.get("leaves") or {})),
            )
        recent = self.memo.setdefault(len(payload), [])
        recent.insert(0, frame)
        del recent[self.MEMO_PER_LENGTH :]
        self.parsed += 1
        self.parse_seconds += time.process_time() - started
        return frame

    def apply(self, view: View, diff: PresenceFrame) -> View:
        """`view` after `diff` (joins, then leaves), worked out once per view and diff."""
        after = view.memo.get(diff.id)
        if after is None:
            if len(view.memo) > 4:
                view.memo.clear()
            after = view.memo[diff.id] = self.view((view.mask | diff.joins) & ~diff.leaves)
        return after

    def view(self, mask: int) -> View:
        count = mask.bit_count()
        if mask & self.multi_mask:
            for bits in self.multi_keys:  # a key listed through several refs counts once
                present = sum((mask >> bit) & 1 for bit in bits)
                count -= max(0, present - 1)
        return View(mask, count)

    # --- Parsing ---

    def _bit(self, ref: bytes, key: bytes) -> int:
        bit = self.bits.get(ref)
        if bit is None:
            bit = self.bits[ref] = len(self.bits)
            bits = self.key_bits.setdefault(key, [])
            bits.append(bit)
            if len(bits) == 2:
                self.multi_keys.append(bits)
            if len(bits) >= 2:
                for each in bits:
                    self.multi_mask |= 1 << each
        return bit

    def _state_bits(self, payload: bytes) -> list[int]:
        """The bits of a presence_state frame, `[..., "presence_state", {key: {"metas": [...]}, ...}]`.

        Split at each key's `:{"metas":[`: piece i holds key i's metas (and ends with the next
        key). Successive states share most pieces, so a piece seen before is not read again.
        """
        pieces = payload.split(self.STATE_SPLIT)
        known = self.pieces
        if len(known) > self.PIECES_MAX:
            known.clear()
        out: list[int] = []
        previous = pieces[0]
        for piece in itertools.islice(pieces, 1, None):
            bits = known.get(piece)
            if bits is None:
                key = previous[previous.rfind(b'"', 0, -1) + 1 : -1]
                bits = known[piece] = tuple(self._bit(ref, key) for ref in self._refs(piece))
            out.extend(bits)
            previous = piece
        return out

    def _refs(self, piece: bytes) -> list[bytes]:
        refs = []
        start = piece.find(self.REF)
        while start >= 0:
            start += len(self.REF)
            end = piece.index(b'"', start)
            refs.append(piece[start:end])
            start = piece.find(self.REF, end)
        return refs

    def _diff_bits(self, keys: dict[str, Any]) -> list[int]:
        return [
            self._bit(meta["phx_ref"].encode(), key.encode())
            for key, entry in keys.items()
            for meta in entry.get("metas") or ()
        ]

    @staticmethod
    def _mask(bits: list[int]) -> int:
        if not bits:
            return 0
        bitmap = bytearray(max(bits) // 8 + 1)
        for bit in bits:
            bitmap[bit >> 3] |= 1 << (bit & 7)
        return int.from_bytes(bitmap, "little")


class Stream:
    """A large frame arriving in pieces: compared with the known frames of its length as it comes."""

    __slots__ = ("candidates", "chunks", "kind", "left", "offset")

    def __init__(self, length: int, kind: bytes | None, candidates: list[PresenceFrame]) -> None:
        self.left = length
        self.offset = 0
        self.kind = kind  # b"presence_state"/b"presence_diff", or None: any other frame
        self.candidates = candidates
        self.chunks: list[bytes] = []  # references to what arrived (no copy), joined only for a new frame

    def add(self, chunk: bytes) -> None:
        if self.candidates:
            offset = self.offset
            self.candidates = [c for c in self.candidates if c.payload.startswith(chunk, offset)]
        self.chunks.append(chunk)
        self.offset += len(chunk)
        self.left -= len(chunk)


def presence_kind(head: bytes) -> bytes | None:
    """b"presence_state" or b"presence_diff" when a frame's first bytes name one of them as its event."""
    at = head.find(b'"presence_')
    if at < 0:
        return None
    if head.startswith(b'"presence_state"', at):
        return b"presence_state"
    if head.startswith(b'"presence_diff"', at):
        return b"presence_diff"
    return None


class Conn(asyncio.Protocol):
    """One socket: handshake, join, then frames; everything happens in callbacks."""

    __slots__ = (
        "buffer",
        "client",
        "close_code",
        "compressed",
        "due",
        "fragments",
        "inflater",
        "joined",
        "need",
        "partial",
        "pending",
        "slot",
        "state",
        "stream",
        "topic",
        "transport",
        "view",
    )

    def __init__(self, client: Client, slot: int, topic: str) -> None:
        self.client = client
        self.slot = slot
        self.topic = topic
        self.state = HANDSHAKE
        self.transport: asyncio.Transport | None = None
        self.buffer = b""  # an incomplete handshake response
        self.partial: bytearray | None = None  # an incomplete frame, until `need` bytes are in
        self.need = 0
        self.fragments: list[bytes] | None = None
        self.compressed = False  # the message being reassembled is compressed
        self.inflater: Any = None  # a zlib decompressor once permessage-deflate is agreed
        self.joined: asyncio.Future[str | None] = client.loop.create_future()
        self.close_code: int | None = None
        self.due = 0.0  # when its next heartbeat is due
        self.stream: Stream | None = None  # a large frame being received
        self.view: View | None = None  # its presence list, from its first presence_state on
        self.pending: list[PresenceFrame] | None = None  # diffs that came before that state

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.client.bytes_in += len(data)
        if self.state == HANDSHAKE:
            data = self.buffer + data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            self.buffer = b""
            if b"permessage-deflate" in data[:end].lower():
                self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            status = data[: data.find(b"\r\n")].split(b" ", 2)
            if len(status) < 2 or status[1] != b"101":
                self._fail(f"HTTP {status[1].decode(errors='replace') if len(status) > 1 else '?'} at the handshake")
                return
            self.state = JOINING
            self.send_text(orjson.dumps(["1", "1", self.topic, "phx_join", {}]))
            data = data[end + 4 :]
            if not data:
                return
        elif self.stream is not None:
            data = self._stream(data)
            if not data:
                return
        elif self.partial is not None:
            self.partial += data  # a frame arriving in several pieces: no quadratic copies
            if len(self.partial) < self.need:
                return
            data, self.partial = bytes(self.partial), None
        self._frames(data)

    def connection_lost(self, exc: Exception | None) -> None:
        previous, self.state = self.state, CLOSED
        self.transport = None
        if previous == JOINED:
            self.client.lost(self)
        elif not self.joined.done():
            reason = "closed before the handshake" if previous == HANDSHAKE else "closed before the join reply"
            if self.close_code is not None:
                reason += f" (close code {self.close_code})"
            self.joined.set_result(reason)

    # --- Frames ---

    def _frames(self, data: bytes) -> None:
        pos, n = 0, len(data)
        need = 0
        while n - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length, header = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    need = 4
                    break
                length, header = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    need = 10
                    break
                length, header = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            end = pos + header + length
            if end > n:
                if length >= STREAM_MIN and b0 == 0x80 | OP_TEXT and n - pos - header >= HEAD:
                    self._start_stream(length, data[pos + header :])
                    return
                need = end - pos
                break
            payload = data[pos + header : end]
            if b0 & 0x40:  # RSV1: a compressed message (permessage-deflate), flagged on its first frame
                self.compressed = True
            if self.compressed and b0 & 0x80 and (b0 & 0x0F) != OP_CONT and self.inflater is not None:
                payload = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
                self.compressed = False
            self._frame(b0 & 0x0F, b0 & 0x80, payload)
            pos = end
            if self.state == CLOSED:
                return
        if pos < n:
            self.partial, self.need = bytearray(data[pos:]), max(need, 2)

    def _start_stream(self, length: int, first: bytes) -> None:
        """A large, whole, uncompressed text frame whose first `len(first)` bytes are in."""
        kind = presence_kind(first[:HEAD])
        candidates = self.client.presence.candidates(length) if kind is not None else []
        self.stream = Stream(length, kind, candidates)
        self.stream.add(first)

    def _stream(self, data: bytes) -> bytes:
        """Take the stream's next bytes from `data`; what follows its end (b"" if nothing)."""
        stream = self.stream
        assert stream is not None  # called while streaming
        if len(data) < stream.left:
            stream.add(data)
            return b""
        rest = data[stream.left :]
        stream.add(data[: stream.left] if rest else data)
        self.stream = None
        if stream.kind is not None and stream.candidates:  # seen before: nothing to join or parse
            self.client.frames += 1
            self._presence(stream.candidates[0])
        else:
            self._text(b"".join(stream.chunks))
        return rest

    def _frame(self, opcode: int, fin: int, payload: bytes) -> None:
        if opcode == OP_TEXT and fin:
            self._text(payload)
        elif opcode in (OP_TEXT, OP_BINARY) or (opcode == OP_CONT and self.fragments is not None):
            self.fragments = [*(self.fragments or []), payload] if opcode == OP_CONT else [payload]
            if fin:
                whole, self.fragments = b"".join(self.fragments), None
                if self.compressed and self.inflater is not None:
                    whole, self.compressed = self.inflater.decompress(whole + b"\x00\x00\xff\xff"), False
                self._text(whole)
        elif opcode == OP_PING:
            if self.transport is not None:
                self.transport.write(frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.client.close_codes[self.close_code] = self.client.close_codes.get(self.close_code, 0) + 1
            if self.transport is not None:
                self.transport.write(frame(OP_CLOSE, payload[:2]))
                self.transport.close()

    def _text(self, payload: bytes) -> None:
        client = self.client
        head = payload[:HEAD]
        if b'"phoenix"' in head:  # a heartbeat reply
            client.heartbeat_replies += 1
            return
        client.frames += 1
        kind = presence_kind(head)
        if kind is not None:
            book = client.presence
            self._presence(book.known(payload) or book.parse(payload, kind))
            return
        if b'"new_msg"' in head:
            now = time.monotonic()
            message = orjson.loads(payload)
            if message[3] == "new_msg":
                body = message[4].get("body", "")
                if isinstance(body, str) and body.startswith(BODY_PREFIX):
                    client.record(int(body[len(BODY_PREFIX) :]), self.slot, now)
                    return
        if self.state == JOINING and b'"phx_reply"' in payload:
            message = orjson.loads(payload)
            if message[1] == "1" and message[3] == "phx_reply":
                reply = message[4]
                if reply.get("status") == "ok":
                    self.state = JOINED
                    self.due = time.monotonic() + HEARTBEAT_SECONDS
                    client.joined.append(self)  # heartbeats from now on, not when its batch is done
                    self.joined.set_result(None)
                else:
                    self._fail(f"join refused: {orjson.dumps(reply.get('response')).decode()}")

    def _presence(self, frame: PresenceFrame) -> None:
        """Presence.syncState / syncDiff on this socket's list; the time its size last changed."""
        before = self.view
        if frame.view is not None:  # presence_state
            after = frame.view
            for diff in self.pending or ():
                after = self.client.presence.apply(after, diff)
            self.pending = None
        elif before is None:  # a diff before the state: it waits, as in the JS client
            self.pending = [*(self.pending or []), frame]
            return
        else:
            after = self.client.presence.apply(before, frame)
        self.view = after
        if before is None or before.count != after.count:
            self.client.presence_changed[self.slot] = time.monotonic()

    # --- Sending ---

    def send_text(self, payload: bytes) -> None:
        if self.transport is not None:
            self.transport.write(frame(OP_TEXT, payload))

    def _fail(self, reason: str) -> None:
        if not self.joined.done():
            self.joined.set_result(reason)
        self.abort()

    def abort(self) -> None:
        """Drop the connection at once (RST: no TIME_WAIT left holding a local port)."""
        if self.transport is not None:
            self.transport.abort()


class Client:
    """All the sockets of this process, and what the controller asked to measure."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.conns: dict[int, Conn] = {}  # controller's socket index -> socket
        self.joined: list[Conn] = []
        self.slots = 0
        self.frames = 0
        self.bytes_in = 0
        self.heartbeats = 0
        self.heartbeat_replies = 0
        self.close_codes: dict[int, int] = {}
        self.lost_after_join = 0
        self.armed: dict[int, array[float]] = {}
        self.remaining: dict[int, int] = {}
        self.ref = 0
        self.presence = PresenceBook()
        self.presence_changed: array[float] = array("d")  # per slot: when its list's size last changed

    # --- Measuring ---

    def record(self, seq: int, slot: int, now: float) -> None:
        times = self.armed.get(seq)
        if times is None or not math.isnan(times[slot]):
            return
        times[slot] = now
        self.remaining[seq] -= 1
        if self.remaining[seq] == 0:
            emit({"event": "complete", "seq": seq, "at": now})

    def lost(self, conn: Conn) -> None:
        self.lost_after_join += 1
        for seq, times in self.armed.items():
            if math.isnan(times[conn.slot]) and self.remaining[seq] > 0:
                self.remaining[seq] -= 1
                if self.remaining[seq] == 0:
                    emit({"event": "complete", "seq": seq, "at": time.monotonic()})

    # --- Commands ---

    async def connect(
        self, host: str, port: int, topic: str, sockets: list[list[Any]], seconds: float, deflate: bool
    ) -> dict[str, Any]:
        """Open, upgrade and join every socket at once; each has `seconds` to be joined."""
        started = time.monotonic()
        extensions = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else ""
        results = await asyncio.gather(
            *(self._open(host, port, topic, i, path, seconds, extensions) for i, path in sockets)
        )
        failed: dict[str, int] = {}
        for reason in results:
            if reason is not None:
                failed[reason] = failed.get(reason, 0) + 1
        return {"ok": len(sockets) - sum(failed.values()), "failed": failed, "seconds": time.monotonic() - started}

    async def _open(
        self, host: str, port: int, topic: str, index: int, path: str, seconds: float, extensions: str
    ) -> str | None:
        conn = Conn(self, self.slots, topic)
        self.slots += 1
        self.presence_changed.append(math.nan)
        self.conns[index] = conn
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n"
        ).encode()
        try:
            async with asyncio.timeout(seconds):
                await self.loop.create_connection(lambda: conn, host, port)
                assert conn.transport is not None  # set by connection_made
                conn.transport.write(request)
                reason = await conn.joined
        except TimeoutError:
            reason = "timed out before the handshake" if conn.state == HANDSHAKE else "timed out waiting for the join"
        except OSError as exc:
            reason = f"connect failed: {exc.strerror or exc}"
        if reason is not None:
            conn.abort()
            del self.conns[index]
        return reason

    def arm(self, seq: int) -> dict[str, Any]:
        times = array("d", [math.nan]) * self.slots
        self.armed[seq] = times
        self.remaining[seq] = sum(1 for conn in self.joined if conn.state == JOINED)
        return {"expected": self.remaining[seq]}

    def push(self, index: int, topic: str, body: str) -> dict[str, Any]:
        self.ref += 1
        conn = self.conns.get(index)
        if conn is None or conn.state != JOINED:
            return {"error": f"socket {index} is not joined"}
        payload = orjson.dumps(["1", f"push-{self.ref}", topic, "new_msg", {"body": body}])
        sent_at = time.monotonic()
        conn.send_text(payload)
        return {"sent_at": sent_at}

    def collect(self, seq: int) -> dict[str, Any]:
        times = self.armed.pop(seq)
        self.remaining.pop(seq, None)
        received = [times[conn.slot] for conn in self.joined]
        missing = sum(1 for t in received if math.isnan(t))
        return {"times": [t for t in received if not math.isnan(t)], "missing": missing}

    def stats(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "joined": sum(1 for conn in self.joined if conn.state == JOINED),
            "frames": self.frames,
            "bytes_in": self.bytes_in,
            "heartbeats": self.heartbeats,
            "heartbeat_replies": self.heartbeat_replies,
            "lost_after_join": self.lost_after_join,
            "close_codes": {str(code): n for code, n in self.close_codes.items()},
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "max_rss_kb": usage.ru_maxrss,
        }

    def presence_stats(self, expected: int) -> dict[str, Any]:
        """How many joined sockets list `expected` users, when the last of them got there, and the others' sizes."""
        converged = 0
        last = math.nan
        sizes: dict[int, int] = {}
        for conn in self.joined:
            if conn.state != JOINED:
                continue
            size = conn.view.count if conn.view is not None else -1  # -1: no presence_state yet
            if size == expected:
                converged += 1
                changed = self.presence_changed[conn.slot]
                last = changed if math.isnan(last) else max(last, changed)
            else:
                sizes[size] = sizes.get(size, 0) + 1
        book = self.presence
        return {
            "converged": converged,
            "last_converged_at": None if math.isnan(last) else last,
            "others": {str(size): n for size, n in sorted(sizes.items())[:20]},
            "frames_parsed": book.parsed,
            "parse_seconds": book.parse_seconds,
        }

    def close(self, indices: list[int]) -> dict[str, Any]:
        for index in indices:
            conn = self.conns.pop(index, None)
            if conn is not None:
                conn.state = CLOSED  # a deliberate close is not a loss
                conn.abort()
        self.joined = [conn for conn in self.conns.values() if conn.state == JOINED]
        return {"open": len(self.conns)}

    async def heartbeat(self) -> None:
        """Each joined socket sends `heartbeat` HEARTBEAT_SECONDS after it joined, then every HEARTBEAT_SECONDS."""
        while True:
            await asyncio.sleep(1)
            now = time.monotonic()
            for conn in self.joined:
                if conn.due <= now and conn.state == JOINED:
                    conn.due = now + HEARTBEAT_SECONDS
                    self.ref += 1
                    conn.send_text(orjson.dumps([None, f"hb-{self.ref}", "phoenix", "heartbeat", {}]))
                    self.heartbeats += 1


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


async def serve() -> None:
    loop = asyncio.get_running_loop()
    client = Client(loop)
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    heartbeats = asyncio.create_task(client.heartbeat())
    limit = raise_open_files_limit()
    emit({"event": "ready", "pid": os.getpid(), "nofile": list(limit)})
    pending: set[asyncio.Task[None]] = set()

    async def run(command: dict[str, Any]) -> None:
        name = command["cmd"]
        if name == "connect":
            answer = await client.connect(
                command["host"],
                command["port"],
                command["topic"],
                command["sockets"],
                command["seconds"],
                command.get("deflate", False),
            )
        elif name == "arm":
            answer = client.arm(command["seq"])
        elif name == "joined":
            conn = client.conns.get(command["index"])
            answer = {"joined": conn is not None and conn.state == JOINED}
        elif name == "push":
            answer = client.push(command["index"], command["topic"], command["body"])
        elif name == "collect":
            answer = client.collect(command["seq"])
        elif name == "stats":
            answer = client.stats()
        elif name == "presence":
            answer = client.presence_stats(command["expected"])
        elif name == "close":
            answer = client.close(command["indices"])
        else:
            answer = {"error": f"unknown command {name!r}"}
        emit({"id": command["id"], **answer})

    while line := await reader.readline():
        command = orjson.loads(line)
        if command["cmd"] == "quit":
            break
        task = asyncio.create_task(run(command))
        pending.add(task)
        task.add_done_callback(pending.discard)
    heartbeats.cancel()
    for conn in list(client.conns.values()):
        conn.abort()
    with contextlib.suppress(Exception):
        await asyncio.sleep(0.1)  # let the transports close
    emit({"event": "bye"})


def main() -> None:
    uvloop.run(serve())


if __name__ == "__main__":
    main()
