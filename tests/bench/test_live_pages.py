"""The plumbing of `bench.live_pages` (no server, no timing): its load client counts events across
TCP chunks, waits for a batch's own first events, and its options parse."""

from __future__ import annotations

import asyncio
from typing import Any

from bench import live_pages
from bench.live_pages import LIVE_EVENT, Conn, Load, Options


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        pass


def connect(load: Load, index: int) -> Conn:
    conn = Conn(load, index, b"GET / HTTP/1.1\r\n\r\n")
    transport: Any = FakeTransport()
    conn.connection_made(transport)
    load.conns.append(conn)
    return conn


async def test_events_split_across_chunks_are_counted_once_each() -> None:
    load = Load(LIVE_EVENT, 1)
    conn = connect(load, 0)
    done = load.arm(2, 1)
    conn.data_received(b"HTTP/1.1 200 OK\r\n\r\nretry: 1000\n\nid: 1\nevent: li")
    conn.data_received(b"ve\ndata: x\n\nid: 2\nev")
    assert not done.done()
    conn.data_received(b"ent: live\ndata: y\n\n")
    assert done.done()
    assert conn.seen == 2
    assert load.statuses == {"200": 1}


async def test_a_batch_waits_for_its_own_connections_only() -> None:
    load = Load(LIVE_EVENT, 3)
    first = connect(load, 0)
    first.data_received(b"HTTP/1.1 200 OK\r\n\r\nevent: live\n\n")
    done = load.arm(1, 2, new_only=True)  # the next batch: two new connections
    assert load.arrived == 0
    second, third = connect(load, 1), connect(load, 2)
    second.data_received(b"HTTP/1.1 200 OK\r\n\r\nevent: live\n\n")
    assert not done.done()
    third.data_received(b"HTTP/1.1 200 OK\r\n\r\nevent: live\n\n")
    await asyncio.wait_for(done, 1)


def test_options_default_to_a_thousand_pages_and_every_scenario() -> None:
    options = live_pages.parse_args([])
    assert isinstance(options, Options)
    assert options.pages == 1000
    assert options.scenarios == ("keepalive", "bare", "constant", "demo", "users")
    assert options.users_path == "/users"
    assert set(live_pages.scenario_specs(options)) == set(options.scenarios)
