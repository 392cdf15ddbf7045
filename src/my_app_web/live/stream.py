"""The live stream of one open page: Server-Sent Events fed by PubSub, with no task of its own.

`LiveResponse(page)` answers the page's EventSource. It subscribes to the page's topics with
callback subscriptions: a message lands in a small inbox and wakes a short-lived pump task that
asks the page for patches and sends them as one SSE event. While a page is idle it costs its
connection's own coroutine (waiting for the client to go away), the subscriptions and the page
object, nothing else; a timer (not a task) sends a comment now and then so proxies keep the
connection open.

Served by the app's `Endpoint`, a stream goes through the middleware and its route (session,
authentication, dependencies), sends its headers and first event, and returns: the endpoint then
`hold()`s it with the server's own `send`, so an idle page keeps none of their frames alive. Called
by anything else, it holds itself.

On every (re)connection the page's region is rendered again first: a page that was away (the
server restarted, the network dropped, the EventSource reconnected with `Last-Event-ID`) catches
up by itself, and so does a page whose GET and stream straddled a change. A PubSub `Gap`, or an
inbox that overflows because the client reads too slowly, does the same. When the session that
opened the page logs out (its `live_socket_id` topic hears "disconnect"), the browser is told to
reload, and the reload meets the log-in page.

The wire format (what `static/live.js` and htmx's SSE extension read):

    id: 3
    event: live
    data: <hx-partial hx-target="#users" hx-swap="beforeend"><tr id="users-7">...</tr></hx-partial>

and `event: reload` (data unused) to reload the page.

When the node is told to stop (`my_app_web.drain`), `end_all()` ends every open stream at once: the
server would otherwise wait for them until SHUTDOWN_TIMEOUT, and each browser reconnects after
`retry` (through the load balancer, to a node that stays) and renders the page afresh there.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from my_app import pubsub
from my_app.pubsub import Gap, Message, Subscription
from my_app_web.live import patches
from my_app_web.live.patches import Patch
from my_app_web.plugs.auth import LIVE_SOCKET_ID_KEY

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 25.0
# The client's reconnection delay after a drop, in milliseconds (the SSE `retry:` field).
RETRY_MILLISECONDS = 1000
# Messages waiting for the pump; beyond this the page is re-rendered instead (a slow client).
INBOX_LIMIT = 64
# A list in the request's scope, put there by the endpoint: a stream appends itself to it once it
# has sent its first event, and the endpoint then `hold()`s it outside the middleware stack.
DETACHED_KEY = "my_app.live_detached"
# Every stream this process has open (`end_all` ends them when the node drains).
_OPEN: set[LiveResponse] = set()
# Set once this process drains: a stream that starts afterwards ends after its first event.
_draining = False
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: pass events through as they come
]


class StreamedPage(Protocol):
    """What the stream needs of a page (`LivePage` has it)."""

    request: Request

    def topics(self) -> Sequence[str]: ...

    async def refresh(self) -> list[Patch]: ...

    async def handle_info(self, message: Message) -> Sequence[Patch]: ...


class LiveResponse(Response):
    """The SSE answer for one live page: runs until the client goes away."""

    def __init__(self, page: StreamedPage) -> None:
        self.page = page
        self.status_code = 200
        self.background = None
        # A list, not a deque: an empty deque costs ~700 bytes, times every open page.
        self._inbox: list[Message] = []
        self._stale = False  # re-render the region at the next pump (a gap, an overflow)
        self._reload = False
        self._beat = False
        self._ready = False
        self._closed = False
        self._event_id = 0
        self._pump: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._send: Send | None = None
        self._subscriptions: list[Subscription] = []
        # The request's context (its locale, its request id): pushes are rendered and logged in it,
        # though PubSub delivers from its listener's context.
        self._context = contextvars.copy_context()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            await send({"type": "http.response.body", "body": b"retry: %d\n\n" % RETRY_MILLISECONDS, "more_body": True})
            # Subscribe before the first render: a change made meanwhile is pushed after it.
            self._subscriptions = [pubsub.subscribe(topic, on_message=self._on_message) for topic in self.page.topics()]
            session_topic = self.page.request.session.get(LIVE_SOCKET_ID_KEY)
            if isinstance(session_topic, str):
                self._subscriptions.append(pubsub.subscribe(session_topic, on_message=self._on_logout))
            await self._send_event("live", patches.render(await self.page.refresh()))
        except OSError:
            self._close()  # the client went away while we wrote
            return
        except BaseException:
            self._close()
            raise
        self._ready = True
        _OPEN.add(self)
        self._schedule_heartbeat()
        if self._inbox or self._stale or self._reload or _draining:
            self._wake()  # what arrived during the first render
        detached = scope.get(DETACHED_KEY)
        if isinstance(detached, list):
            # The endpoint serves this stream from here on, once the middleware and the route have
            # returned: an idle page then keeps none of their frames alive (`Endpoint.__call__`).
            detached.append(self)
            return
        await self.hold(receive)

    async def hold(self, receive: Receive, send: Send | None = None) -> None:
        """Wait, as the connection's own coroutine, until the client goes away; then clean up.

        With `send`, later events go straight to it (the server's own, outside the middleware).
        """
        if send is not None:
            self._send = send
        _forget_parsed(self.page.request)
        try:
            # A pump that ends the response makes receive() answer "http.disconnect" too.
            while (await receive())["type"] != "http.disconnect":
                pass
        except OSError:
            pass
        finally:
            self._close()

    def _close(self) -> None:
        self._closed = True
        _OPEN.discard(self)
        for subscription in self._subscriptions:
            subscription.close("live page closed")
        self._subscriptions = []
        if self._timer is not None:
            self._timer.cancel()
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        self._pump = None

    # --- Called by PubSub on delivery (no await: queue and wake the pump) ---

    def _on_message(self, item: Message | Gap) -> None:
        if isinstance(item, Gap) or len(self._inbox) >= INBOX_LIMIT:
            self._inbox.clear()
            self._stale = True
        else:
            self._inbox.append(item)
        self._wake()

    def _on_logout(self, item: Message | Gap) -> None:
        if isinstance(item, Message) and item.event == "disconnect":
            self._reload = True
            self._wake()

    def _schedule_heartbeat(self) -> None:
        if not self._closed:
            self._timer = asyncio.get_running_loop().call_later(HEARTBEAT_SECONDS, self._heartbeat)

    def _heartbeat(self) -> None:
        self._beat = True
        self._wake()
        self._schedule_heartbeat()

    def _wake(self) -> None:
        if self._ready and not self._closed and (self._pump is None or self._pump.done()):
            self._pump = asyncio.get_running_loop().create_task(self._drain(), context=self._context)

    # --- The pump: a task only while there is something to send ---

    async def _drain(self) -> None:
        try:
            while not self._closed:
                if _draining:  # the node is going away: the client reconnects after `retry`
                    await self._finish()
                    return
                if self._reload:
                    await self._send_event("reload", "")
                    await self._finish()
                    return
                if self._stale:
                    self._stale = False
                    self._inbox.clear()
                    await self._send_event("live", patches.render(await self.page.refresh()))
                elif self._inbox:
                    found: list[Patch] = []
                    while self._inbox:
                        found.extend(await self.page.handle_info(self._inbox.pop(0)))
                    if found:
                        await self._send_event("live", patches.render(found))
                elif self._beat:
                    self._beat = False
                    await self._write(b": ping\n\n")
                else:
                    return
        except OSError:
            self._closed = True
        except Exception:
            # The page could not load what it shows (the database is down): end the stream; the
            # browser reconnects after `retry`, and the reconnection renders the page afresh.
            logger.warning("live page %s failed; closing its stream", type(self.page).__name__, exc_info=True)
            await self._finish()
        finally:
            self._pump = None  # an idle page keeps no finished task alive

    async def _send_event(self, event: str, data: str) -> None:
        self._event_id += 1
        lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
        await self._write(f"id: {self._event_id}\nevent: {event}\n{lines}\n".encode())

    async def _write(self, chunk: bytes) -> None:
        assert self._send is not None  # noqa: S101 - set before anything is sent
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _finish(self) -> None:
        self._closed = True
        if self._send is not None:
            with contextlib.suppress(OSError):
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})


def end_all() -> int:
    """End every open stream of this process, and each that opens later (the node is draining).

    Returns how many were open.
    """
    global _draining  # one flag per process: a draining process never stops draining
    _draining = True
    streams = list(_OPEN)
    for stream in streams:
        stream._wake()  # its pump sees `_draining` and ends it
    return len(streams)


# What Starlette's Request caches once parsed (its URL, headers, cookies, query): an open page keeps
# its request for as long as it is open, and each of these is parsed again if a later render needs it.
_PARSED_REQUEST_CACHES = ("_url", "_base_url", "_headers", "_cookies", "_query_params")


def _forget_parsed(request: Request) -> None:
    for attribute in _PARSED_REQUEST_CACHES:
        request.__dict__.pop(attribute, None)
