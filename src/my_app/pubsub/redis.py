"""The Redis adapter (when REDIS_URL is set): pub/sub on one channel. Imported only when it is used."""

from __future__ import annotations

import contextlib
import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from my_app.pubsub.adapter import APPLICATION_NAME, CHANNEL, HEALTH_INTERVAL, PING_TIMEOUT, Adapter, decode


class RedisAdapter(Adapter):
    """Redis pub/sub on one channel; the listener is a dedicated connection named after the node."""

    name = "Redis pubsub"
    connection_errors = (RedisConnectionError, RedisTimeoutError)

    def __init__(self, url: str, *, channel: str = CHANNEL, connect_timeout: float = 5.0) -> None:
        super().__init__(connect_timeout=connect_timeout)
        self.url = url
        self.channel = channel
        # One retry (a connection that died with a Redis restart), not redis-py's ten: a broadcast
        # while Redis is down must give up within a few seconds.
        self._publisher = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.connect_timeout,
            retry=Retry(NoBackoff(), 1),
        )

    @property
    def client_name(self) -> str:
        """The listening connection's name (find it with CLIENT LIST TYPE pubsub)."""
        return f"{APPLICATION_NAME}:{self.node_id}"

    async def _close(self) -> None:
        await self._publisher.aclose()

    async def _publish(self, topic: str, envelope: bytes) -> None:
        await self._publisher.publish(self.channel, envelope)

    async def _listen(self) -> None:
        # No retries inside redis-py: a lost connection must surface here, so subscribers get a Gap.
        client = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.connect_timeout,
            client_name=self.client_name,
            retry=Retry(NoBackoff(), 0),
        )
        subscriber = client.pubsub()
        try:
            await subscriber.subscribe(self.channel)
            confirmation = await subscriber.get_message(timeout=self.connect_timeout)
            if not confirmation or confirmation.get("type") != "subscribe":
                raise RedisConnectionError(f"no confirmation of SUBSCRIBE {self.channel}")
            self._listening_now()
            heard = time.monotonic()
            pinged: float | None = None
            while True:
                message = await subscriber.get_message(timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    heard, pinged = now, None
                    if message.get("type") == "message":
                        envelope = decode(message["data"])
                        if envelope is not None:
                            self._receive(envelope)
                elif pinged is not None and now - pinged > PING_TIMEOUT:
                    raise RedisConnectionError("Redis did not answer PING")
                elif pinged is None and now - heard > HEALTH_INTERVAL:
                    await subscriber.ping()
                    pinged = now
        finally:
            self._listening.clear()
            with contextlib.suppress(Exception):
                await subscriber.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            with contextlib.suppress(Exception):
                await client.aclose()
