"""The adapter base: carries envelopes between nodes, keeps one listening connection up, reconnects with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import orjson

from my_app import backoff
from my_app.metrics import PUBSUB_DROPPED

logger = logging.getLogger(__name__)

CHANNEL = "my_app_pubsub"  # the one channel (or its prefix) every node of the app publishes and listens on
RECONNECT_BASE = 0.2
RECONNECT_MAX = 30.0
# A listener that heard nothing for this long checks that its connection still answers.
HEALTH_INTERVAL = 15.0
PING_TIMEOUT = 5.0
APPLICATION_NAME = "my_app_pubsub"  # names each node's connections, to find them on the server

# A broadcast the other nodes never got (publishing failed, or paused while the server is down),
# one that arrived unreadable, and a large one whose stored payload could not be read back.
DROPPED_UNPUBLISHED = PUBSUB_DROPPED.labels(reason="unpublished")
DROPPED_MALFORMED = PUBSUB_DROPPED.labels(reason="malformed")
DROPPED_PAYLOAD_LOST = PUBSUB_DROPPED.labels(reason="payload_lost")


def backoff_seconds(attempt: int, *, base: float = RECONNECT_BASE, maximum: float = RECONNECT_MAX) -> float:
    """Wait before reconnect attempt `attempt` (1, 2, ...): base·2^(attempt-1), capped, then jittered.

    The wait is between half and all of that, so nodes that lost the server together do not all
    come back at the same instant.
    """
    return backoff.backoff_seconds(attempt, base=base, maximum=maximum, spread=(0.5, 1.0))


Receive = Callable[[Any], None]
Missed = Callable[[str, "str | None"], None]


class Adapter(ABC):
    """Carries envelopes between nodes; keeps one listening connection up, reconnecting with backoff.

    Publishing that fails for want of a connection pauses publishing (capped backoff, and until the
    listener is back): broadcasts meanwhile reach this node's subscribers only, at once, rather
    than each waiting for a server that is down.
    """

    name = "adapter"
    # The errors that mean "the server cannot be reached" (others mean this one message was refused).
    connection_errors: tuple[type[Exception], ...] = (OSError,)

    def __init__(self, *, connect_timeout: float = 5.0) -> None:
        self.node_id = ""
        self.connect_timeout = connect_timeout
        self.reconnect_base = RECONNECT_BASE
        self.reconnect_max = RECONNECT_MAX
        self._receive: Receive = _ignore
        self._missed: Missed = _ignore_gap
        self._listening = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._attempt = 0  # failed connections since the last success
        self._failed = False  # True from a failure until the next success has reported a Gap
        self._publish_failures = 0
        self._publish_paused_until = 0.0

    @property
    def connected(self) -> bool:
        return self._listening.is_set()

    @property
    def publish_timeout(self) -> float:
        """The longest a broadcast waits for the server: a connection, then the command."""
        return 2 * self.connect_timeout

    async def start(self, node_id: str, receive: Receive, missed: Missed) -> None:
        self.node_id, self._receive, self._missed = node_id, receive, missed
        self._listener = asyncio.create_task(self._listen_forever(), name=f"{self.name} listener")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self._listening.clear()
        await self._close()

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self._listening.wait(), timeout)

    async def publish(self, topic: str, envelope: bytes) -> None:
        """Send an envelope to every node; a failure is logged, never raised (this node's subscribers have it)."""
        if time.monotonic() < self._publish_paused_until:
            logger.debug("%s is unreachable: %r stays on this node", self.name, topic)
            DROPPED_UNPUBLISHED.inc()
            return
        unreachable: tuple[type[Exception], ...] = (TimeoutError, *self.connection_errors)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation of the
            # caller (a channel being stopped), which then never finishes stopping.
            async with asyncio.timeout(self.publish_timeout):
                await self._publish(topic, envelope)
        except unreachable as exc:
            DROPPED_UNPUBLISHED.inc()
            self._publish_failures += 1
            pause = backoff_seconds(self._publish_failures, base=self.reconnect_base, maximum=self.reconnect_max)
            self._publish_paused_until = time.monotonic() + pause
            logger.warning(
                "could not publish on %s (%s); broadcasts stay on this node for %.1fs", self.name, describe(exc), pause
            )
        except Exception as exc:
            DROPPED_UNPUBLISHED.inc()
            logger.warning("could not publish on %s: %s", self.name, describe(exc))
        else:
            self._publish_failures = 0

    @abstractmethod
    async def _publish(self, topic: str, envelope: bytes) -> None:
        """Send the envelope; raise one of `connection_errors` when the server cannot be reached."""

    @abstractmethod
    async def _close(self) -> None:
        """Close what publishing opened."""

    @abstractmethod
    async def _listen(self) -> None:
        """Connect, listen, call `_listening_now()`, then hand envelopes over until the connection fails."""

    def _listening_now(self) -> None:
        self._listening.set()
        self._attempt = 0
        self._publish_paused_until = 0.0  # the server is back
        if self._failed:
            self._failed = False
            logger.info("%s listening again; subscribers may have missed messages", self.name)
            self._missed("reconnected", None)

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except Exception as exc:
                # Any failure (the server restarted, the connection was killed, a bad reply): start over.
                self._listening.clear()
                self._failed = True
                self._attempt += 1
                delay = backoff_seconds(self._attempt, base=self.reconnect_base, maximum=self.reconnect_max)
                logger.warning("%s listener failed (%s); reconnecting in %.1fs", self.name, describe(exc), delay)
                await asyncio.sleep(delay)


def _ignore(envelope: Any) -> None:  # pragma: no cover - replaced by start()
    pass


def _ignore_gap(reason: str, topic: str | None) -> None:  # pragma: no cover - replaced by start()
    pass


def describe(exc: BaseException) -> str:
    """`exc` in one line for a log: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def decode(raw: str | bytes) -> Any:
    """A received envelope from JSON; None (logged) for anything that is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        logger.warning("ignoring a PubSub message that is not JSON: %.80r", raw)
        DROPPED_MALFORMED.inc()
        return None
