"""The baseline of `bench.channels_scale`: the least a Python server can do for the same load client.

    .venv/bin/python -m bench.channels_baseline --port 4100     # started by bench.channels_scale

A bare `websockets` server (its asyncio implementation, on uvloop like uvicorn) that speaks just
enough of the Phoenix protocol for the load client: it answers `phx_join` and heartbeats with
`phx_reply` ok, and on `new_msg` encodes the broadcast once and hands it to
`websockets.broadcast()`, which writes it to every joined socket without awaiting anything. No
authentication, no database, no PubSub, no channel objects: one handler coroutine per socket.
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson
import uvloop
import websockets
from websockets.asyncio.server import ServerConnection, serve

from bench.channels_client import raise_open_files_limit

_OK = {"status": "ok", "response": {}}
members: dict[str, set[ServerConnection]] = {}


def _reply(join_ref: Any, ref: Any, topic: str) -> str:
    return orjson.dumps([join_ref, ref, topic, "phx_reply", _OK]).decode()


async def handler(connection: ServerConnection) -> None:
    joined: set[str] = set()
    try:
        async for text in connection:
            join_ref, ref, topic, event, payload = orjson.loads(text)
            if event == "heartbeat":
                await connection.send(_reply(None, ref, topic))
            elif event == "phx_join":
                members.setdefault(topic, set()).add(connection)
                joined.add(topic)
                await connection.send(_reply(join_ref, ref, topic))
            elif event == "new_msg":
                message = {"body": payload.get("body"), "user": {"id": "baseline", "name": "baseline"}}
                websockets.broadcast(members.get(topic, ()), orjson.dumps([None, None, topic, event, message]).decode())
                await connection.send(_reply(join_ref, ref, topic))
    except websockets.ConnectionClosed:
        pass
    finally:
        for topic in joined:
            members[topic].discard(connection)


async def run(host: str, port: int) -> None:
    # The websockets defaults (pings every 20 s, as uvicorn's); the client offers no compression.
    async with serve(handler, host, port, max_size=1 << 20, backlog=2048) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.channels_baseline")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_open_files_limit()
    uvloop.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
