"""The PostgreSQL adapter (the default): LISTEN/NOTIFY, with large envelopes stored in `pubsub_payloads`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import psycopg
from psycopg import sql

from my_app.pubsub.adapter import (
    APPLICATION_NAME,
    CHANNEL,
    DROPPED_PAYLOAD_LOST,
    HEALTH_INTERVAL,
    PING_TIMEOUT,
    Adapter,
    decode,
    describe,
)

logger = logging.getLogger(__name__)

# NOTIFY refuses payloads of 8000 bytes or more; envelopes this long or longer go through the table.
NOTIFY_MAX_BYTES = 7900
PAYLOAD_TTL = 300.0  # seconds a stored large payload is kept for late readers
_CLEANUP_INTERVAL = 60.0  # a publisher deletes expired payloads at most this often


class PostgresAdapter(Adapter):
    """LISTEN/NOTIFY on one channel; envelopes of `NOTIFY_MAX_BYTES` or more go through `pubsub_payloads`.

    Two connections per node: the listener, and one for publishing (and reading large payloads
    back), opened when first needed.
    """

    name = "PostgreSQL pubsub"
    connection_errors = (psycopg.OperationalError,)

    def __init__(self, conninfo: str, *, connect_timeout: float = 5.0, channel: str = CHANNEL) -> None:
        super().__init__(connect_timeout=connect_timeout)
        self.conninfo = conninfo
        self.channel = channel
        self._publisher: psycopg.AsyncConnection[Any] | None = None
        self._publisher_lock = asyncio.Lock()
        self._last_cleanup = 0.0

    @property
    def application_name(self) -> str:
        """The listening connection's `application_name` (find it in pg_stat_activity)."""
        return f"{APPLICATION_NAME} {self.node_id}"

    @property
    def publisher_application_name(self) -> str:
        return f"{APPLICATION_NAME} publisher {self.node_id}"

    async def _connect(self, application_name: str) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self.conninfo,
            autocommit=True,
            application_name=application_name,
            connect_timeout=max(1, round(self.connect_timeout)),
        )

    async def _close(self) -> None:
        async with self._publisher_lock:
            await self._drop_publisher()

    async def _drop_publisher(self) -> None:
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                await self._publisher.close()
            self._publisher = None

    async def _publishing_connection(self) -> tuple[psycopg.AsyncConnection[Any], bool]:
        """The publishing connection, and whether it was opened just now."""
        if self._publisher is not None and not self._publisher.closed and not self._publisher.broken:
            return self._publisher, False
        await self._drop_publisher()
        self._publisher = await self._connect(self.publisher_application_name)
        return self._publisher, True

    async def _publish(self, topic: str, envelope: bytes) -> None:
        async with self._publisher_lock:
            try:
                connection, fresh = await self._publishing_connection()
                try:
                    await self._send(connection, topic, envelope)
                except psycopg.OperationalError:
                    if fresh:
                        raise
                    # It may have died with a server restart: once more, on a new connection.
                    await self._drop_publisher()
                    connection, _ = await self._publishing_connection()
                    await self._send(connection, topic, envelope)
            except BaseException:
                # Cancelled (timed out) mid-command, or broken: its state is unknown, start afresh.
                await self._drop_publisher()
                raise

    async def _send(self, connection: psycopg.AsyncConnection[Any], topic: str, envelope: bytes) -> None:
        if len(envelope) < NOTIFY_MAX_BYTES:
            await connection.execute("SELECT pg_notify(%s, %s)", (self.channel, envelope.decode()))
            return
        # One statement, one transaction: the row is committed by the time anyone is notified.
        await connection.execute(
            "WITH stored AS (INSERT INTO pubsub_payloads (envelope) VALUES (%s::json) RETURNING id)"
            " SELECT pg_notify(%s, json_build_object('ref', id, 'node', %s::text, 'topic', %s::text)::text)"
            " FROM stored",
            (envelope.decode(), self.channel, self.node_id, topic),
        )
        if time.monotonic() - self._last_cleanup > _CLEANUP_INTERVAL:
            self._last_cleanup = time.monotonic()
            await connection.execute(
                "DELETE FROM pubsub_payloads WHERE inserted_at < now() - make_interval(secs => %s)", (PAYLOAD_TTL,)
            )

    async def _listen(self) -> None:
        connection = await self._connect(self.application_name)
        try:
            await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._listening_now()
            while True:
                async for notify in connection.notifies(timeout=HEALTH_INTERVAL):
                    await self._handle(notify.payload)
                # Quiet for a while: make sure the server still answers (a half-open connection hears nothing).
                await asyncio.wait_for(connection.execute("SELECT 1"), PING_TIMEOUT)
        finally:
            self._listening.clear()
            with contextlib.suppress(Exception):
                await connection.close()

    async def _handle(self, raw: str) -> None:
        envelope = decode(raw)
        if isinstance(envelope, dict) and "ref" in envelope:
            if envelope.get("node") == self.node_id:
                return  # our own large message: its subscribers here have it
            envelope = await self._fetch(envelope)
        if envelope is not None:
            self._receive(envelope)

    async def _fetch(self, reference: dict[str, Any]) -> Any:
        """The envelope a `{ref, node, topic}` notification points at (None, and a Gap, if it is gone)."""
        row: tuple[str] | None = None
        try:
            async with asyncio.timeout(self.publish_timeout):
                row = await self._read_stored(reference.get("ref"))
        except (TimeoutError, psycopg.Error) as exc:
            logger.warning("could not read large PubSub payload %s: %s", reference.get("ref"), describe(exc))
        else:
            if row is None:
                logger.warning("large PubSub payload %s is gone (older than %ss?)", reference.get("ref"), PAYLOAD_TTL)
        if row is None:
            DROPPED_PAYLOAD_LOST.inc()
            if isinstance(reference.get("topic"), str):
                self._missed("payload lost", reference["topic"])
            return None
        return decode(row[0])

    async def _read_stored(self, ref: Any) -> tuple[str] | None:
        async with self._publisher_lock:
            try:
                connection, _ = await self._publishing_connection()
                cursor = await connection.execute("SELECT envelope::text FROM pubsub_payloads WHERE id = %s", (ref,))
                return await cursor.fetchone()
            except BaseException:
                await self._drop_publisher()
                raise
