"""A PubSub node in a process of its own, for the cross-process tests.

    python -m tests.support.pubsub_node TOPIC

It starts a node of `my_app.pubsub` alone (`pubsub.started(settings, database URL)`: REDIS_URL
picks the Redis adapter, as in the app) on the test database it inherits, subscribes to TOPIC and prints one JSON
line per event: `{"ready": node_id}` once it listens, then `{"received": {...}}` or `{"gap": reason}`
for each item. It answers every message with an `ack` broadcast on `TOPIC:ack` carrying what it
got, and exits after the message whose event is `stop`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

from my_app import database, pubsub
from my_app.config import Settings

READY_WITHIN = 30.0


def emit(line: dict[str, Any]) -> None:
    print(orjson.dumps(line).decode(), flush=True)


async def run(topic: str) -> None:
    settings = Settings()
    async with pubsub.started(settings, database.resolve(settings).url) as node:
        await node.wait_connected(READY_WITHIN)
        subscription = pubsub.subscribe(topic)
        emit({"ready": pubsub.node_id()})
        async for item in subscription:
            if isinstance(item, pubsub.Gap):
                emit({"gap": item.reason})
                continue
            received = {"event": item.event, "payload": item.payload, "sender": item.sender}
            emit({"received": received})
            await pubsub.broadcast(f"{topic}:ack", "ack", {**received, "node": pubsub.node_id()})
            if item.event == "stop":
                return


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1]))
