"""PubSub's Redis adapter (REDIS_URL): what only Redis does. The cross-node guarantees both adapters
keep run through Redis too, in test_pubsub.py (its `adapters` fixture, "redis" parameter).

Needs Redis on REDIS_URL (default 127.0.0.1:6379, which CI starts); skipped if nothing answers
there.
"""

from __future__ import annotations

import logging
import time

import pytest

from my_app import database, pubsub
from my_app.config import Settings
from my_app.pubsub import Message, PubSub
from my_app.pubsub.redis import RedisAdapter
from tests.support.pubsub import (
    REDIS_URL,
    StartNode,
    assert_broadcasts_reach_a_node_process,
    needs_redis,
    next_message,
    start_node_fixture,  # noqa: F401 - fixture
    unique_topic,
)

pytestmark = needs_redis()


async def test_the_app_node_uses_redis_when_redis_url_is_set(settings: Settings) -> None:
    async with pubsub.started(settings.model_copy(update={"redis_url": REDIS_URL}), database.resolve(settings).url):
        assert isinstance(pubsub.current().adapter, RedisAdapter)
        await pubsub.current().wait_connected(15)
        topic = unique_topic()
        subscription = pubsub.subscribe(topic)

        await pubsub.broadcast(topic, "hello", {})

        assert await next_message(subscription) == Message(topic, "hello", {})


@pytest.mark.integration
async def test_messages_cross_processes_through_redis(start_node: StartNode, settings: Settings) -> None:
    # The channel the child picks for itself: named after the (shared) test database.
    redis_settings = settings.model_copy(update={"redis_url": REDIS_URL})
    here = await start_node(pubsub.adapter_for(redis_settings, database.resolve(settings).url))
    await assert_broadcasts_reach_a_node_process(here, env={"REDIS_URL": REDIS_URL})


async def test_a_node_starts_while_redis_is_down_and_broadcasts_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = PubSub()
    topic = unique_topic()
    subscription = node.subscribe(topic)
    # Port 1 on loopback: nothing listens there, so every connection is refused at once.
    started = time.monotonic()
    await node.start(RedisAdapter("redis://127.0.0.1:1/0", connect_timeout=1))
    try:
        assert not node.connected
        with caplog.at_level(logging.WARNING, logger="my_app.pubsub"):
            await node.broadcast(topic, "hello", {})

        assert await next_message(subscription) == Message(topic, "hello", {})
        assert "could not publish on Redis" in caplog.text
        assert time.monotonic() - started < 5
    finally:
        await node.stop()
