"""A live page (the seed's LiveView module): mount, render, handle_info; events are plain form routes.

A page is a class. Its route handler builds it with what the route's dependencies resolved (the
scope, the record) and returns `await live(request, page)`, which answers both ways one URL is
asked for:

- a browser's GET: the whole page, rendered from `template` with `await page.assigns()`;
- the page's own EventSource (`Accept: text/event-stream`, opened by `live/page.html`): a
  `LiveResponse` that subscribes to `page.topics()` and pushes what `handle_info` returns.

So the page and its stream pass the same authentication and load the same data; a stream that is
no longer allowed (logged out, role changed) fails as the page would, and the browser reloads.

What is on the page that changes lives in `region_template`, included by `live/page.html` into
`<div id="live-region">`; `refresh()` re-renders it (after a PubSub gap, a reconnect, or when a
page has nothing finer to push). Everything else (a modal being filled in) is left alone.

Examples:
    class UserIndex(LivePage):
        template = "users/index.html"           # {% extends "live/page.html" %}
        region_template = "users/_list.html"    # the table; rows from the "users/_row.html" macro

        def __init__(self, request: Request, scope: Scope) -> None:
            super().__init__(request)
            self.scope = scope
            self.rows = Stream("users")

        def topics(self) -> list[str]:
            return [accounts.USERS_TOPIC]

        async def assigns(self) -> dict[str, Any]:
            users = await accounts.list_users(self.scope)
            self.rows.reset(user.id for user in users)
            return {"users": users}

        async def handle_info(self, message: Message) -> list[Patch]:
            if message.event == "user_deleted":
                return [p for p in [self.rows.delete(message.payload["id"])] if p]
            user = await self.shared(message, "user", lambda: accounts.get_user(self.scope, message.payload["id"]))
            return [self.rows.insert(user.id, self.render_macro("users/_row.html", "user_row", user))]

    @router.get("/users", name="user_index")
    async def index(request: Request, session: AdminSession) -> Response:
        return await live(request, UserIndex(request, Scope.for_user(session.user)))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

from fastapi import Request
from fastapi.responses import Response

from my_app.pubsub import Message
from my_app_web.html import page_context, render
from my_app_web.live import patches
from my_app_web.live.patches import Patch
from my_app_web.live.stream import LiveResponse
from my_app_web.templating import templates

T = TypeVar("T")
EVENT_STREAM = "text/event-stream"
REGION_ID = "live-region"
# How long a loaded value is shared by the pages of this node that handle the same message.
SHARED_FOR_SECONDS = 5.0


class LivePage:
    """Subclass it: set `template` and `region_template`, override `topics`, `assigns`, `handle_info`."""

    template: ClassVar[str]
    region_template: ClassVar[str]

    def __init__(self, request: Request) -> None:
        self.request = request

    def topics(self) -> Sequence[str]:
        """The PubSub topics whose messages change this page."""
        return ()

    async def assigns(self) -> dict[str, Any]:
        """Load what the templates show. Called for the page and for each refresh; keep nothing big."""
        return {}

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        """The patches a message calls for; by default the region is re-rendered."""
        return await self.refresh()

    async def refresh(self) -> list[Patch]:
        """The region, rendered again from fresh assigns."""
        html = templates.get_template(self.region_template).render(page_context(self.request, **await self.assigns()))
        return [patches.inner(REGION_ID, html)]

    def render_macro(self, template: str, macro: str, /, *args: Any, **kwargs: Any) -> str:
        """Call a macro of `template` (a row, an item) with the page's context: the HTML of one patch."""
        module = templates.get_template(template).make_module(page_context(self.request))
        return str(getattr(module, macro)(*args, **kwargs))

    async def shared(self, message: Message, key: str, load: Callable[[], Awaitable[T]]) -> T:
        """`await load()`, once per message and key on this node: every page that handles the same
        message (1,000 open user lists) shares one query instead of making one each.

        Only for what does not depend on who asks, or with the asker's role in `key`.
        """
        return await _shared(message, f"{type(self).__qualname__}:{key}", load)


async def live(request: Request, page: LivePage, *, status_code: int = 200, live_url: str | None = None) -> Response:
    """The page for a browser's GET, or its live stream for the page's EventSource.

    `live_url`: where the page's stream is, when it is not this request's URL (a form refused with
    422 is answered at its POST address; its page streams from the list's GET address).
    """
    if is_live_stream(request):
        return LiveResponse(page)
    url = live_url or request.url.path + (f"?{request.url.query}" if request.url.query else "")
    assigns = await page.assigns()
    response = render(
        request, page.template, status_code=status_code, live_url=url, region_template=page.region_template, **assigns
    )
    response.headers["vary"] = "Accept"
    return response


def is_live_stream(request: Request) -> bool:
    """The page's own EventSource asking for its live stream (not a browser wanting the page)."""
    return EVENT_STREAM in request.headers.get("accept", "")


# --- Loads shared between pages handling the same message ---

_shared_loads: dict[tuple[int, str], tuple[Message, asyncio.Future[Any]]] = {}


async def _shared(message: Message, key: str, load: Callable[[], Awaitable[T]]) -> T:
    # Keyed by the message's identity: PubSub hands one Message object to all of a node's
    # subscribers. The entry holds the message, so its id cannot be reused while the entry lives.
    entry_key = (id(message), key)
    entry = _shared_loads.get(entry_key)
    if entry is None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        _shared_loads[entry_key] = (message, future)
        loop.call_later(SHARED_FOR_SECONDS, _shared_loads.pop, entry_key, None)
        try:
            future.set_result(await load())
        except Exception as exc:
            _shared_loads.pop(entry_key, None)  # the next page tries again
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        return future.result()  # type: ignore[no-any-return]
    result: T = await asyncio.shield(entry[1])
    return result
