"""The load client of `bench.channels_scale`: thousands of Phoenix-protocol WebSockets in one process.

    .venv/bin/python -m bench.channels_client        # started by bench.channels_scale, never by hand

Built to cost far less than the server it loads, so the figures are the server's:

- one `asyncio.Protocol` object per socket on uvloop, with `__slots__`: no task, no coroutine and
  no queue per socket (a task exists only while a batch of sockets connects);
- its own WebSocket framing (RFC 6455, client side): text frames masked as the RFC requires,
  pings answered; permessage-deflate offered only when asked (`--deflate`: browsers offer it),
  then the server's compressed messages are inflated (the client sends its own uncompressed);
- a frame is JSON-decoded only when it matters (the join reply and the broadcasts measured);
  presence_state, presence_diff and heartbeat replies are counted, never parsed;
- one time stamp (`time.monotonic()`, CLOCK_MONOTONIC: the same clock in every process of the
  machine) per measured frame, written into a preallocated `array('d')`;
- heartbeats (`phoenix` `heartbeat`, every 30 s per socket from its join, like the JS client) from
  one timer that looks at every joined socket once a second.

The controller talks to it over stdin/stdout, one JSON object per line: `connect`, `arm`, `push`,
`collect`, `stats`, `close`, `quit`; each command's answer carries its `id`. Unprompted lines carry
an `event` (`ready` at start, `complete` when every joined socket received an armed broadcast).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
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
        "slot",
        "state",
        "topic",
        "transport",
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
        elif self.partial is not None:
            self.partial += data  # a large frame (presence_state) arrives in many pieces: no quadratic copies
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
        if b'"phoenix"' in payload:  # a heartbeat reply
            client.heartbeat_replies += 1
            return
        client.frames += 1
        if b'"new_msg"' in payload:
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
