"""The live-page toolkit, through a small page of its own: the page, its stream, patches, refreshes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from jinja2 import ChoiceLoader, DictLoader

from my_app import pubsub
from my_app.config import Settings
from my_app.pubsub import Message
from my_app_web.endpoint import create_app
from my_app_web.live import LivePage, Patch, Stream, live, patches
from my_app_web.templating import templates
from tests.support.conn_case import client_for
from tests.support.live_case import live_stream

pytestmark = pytest.mark.usefixtures("db")

TOPIC = f"toolkit-test:{uuid.uuid4().hex}"
ITEMS: dict[str, str] = {}  # what the demo page lists: id -> label
LOADS: list[str] = []

TEMPLATES = {
    "demo/index.html": '{% extends "live/page.html" %}{% block header %}<h1>Demo</h1>'
    '<input type="hidden" name="_csrf_token" value="{{ csrf_token }}">{% endblock %}',
    "demo/_region.html": (
        '{% from "demo/_row.html" import item_row with context %}'
        '<ul id="items">{% for id, label in items %}{{ item_row(id, label) }}{% endfor %}</ul>'
    ),
    "demo/_row.html": '{% macro item_row(id, label) %}<li id="items-{{ id }}">{{ label }}</li>{% endmacro %}',
}


class DemoPage(LivePage):
    template = "demo/index.html"
    region_template = "demo/_region.html"

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.items = Stream("items")

    def topics(self) -> Sequence[str]:
        return [TOPIC]

    async def assigns(self) -> dict[str, Any]:
        shown = sorted(ITEMS.items())
        self.items.reset(item_id for item_id, _ in shown)
        return {"items": shown}

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        item_id = message.payload["id"]
        if message.event == "deleted":
            return [patch for patch in [self.items.delete(item_id)] if patch]
        label = await self.shared(message, "label", lambda: self._load(item_id))
        row = self.render_macro("demo/_row.html", "item_row", item_id, label)
        if message.event == "created":
            return [self.items.insert(item_id, row)]
        return [patch for patch in [self.items.update(item_id, row)] if patch]

    async def _load(self, item_id: str) -> str:
        LOADS.append(item_id)
        await asyncio.sleep(0)
        return ITEMS[item_id]


router = APIRouter()


@router.get("/demo")
async def demo(request: Request) -> Response:
    return await live(request, DemoPage(request))


@pytest.fixture(scope="module")
def demo_app(settings: Settings) -> Iterator[FastAPI]:
    loader = templates.env.loader
    assert isinstance(loader, ChoiceLoader)
    loader.loaders.append(DictLoader(TEMPLATES))
    app = create_app(settings, start_application=False)
    app.include_router(router)
    yield app
    loader.loaders.pop()


@pytest.fixture
async def demo_client(demo_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    ITEMS.clear()
    LOADS.clear()
    async with client_for(demo_app) as http:
        yield http


async def test_the_page_renders_its_region_and_opens_its_own_stream(demo_client: httpx.AsyncClient) -> None:
    ITEMS["a"] = "Apple"
    page = await demo_client.get("/demo?x=1")
    assert page.status_code == 200
    assert 'sse-connect="/demo?x=1"' in page.text
    assert '<div id="live-region"><ul id="items"><li id="items-a">Apple</li></ul></div>' in page.text
    assert "Accept" in page.headers["vary"]


async def test_the_stream_renders_the_region_on_connect_then_pushes_patches(
    demo_app: FastAPI, demo_client: httpx.AsyncClient
) -> None:
    ITEMS["a"] = "Apple"
    async with live_stream(demo_app, demo_client, "/demo") as stream:
        first = await stream.next_event()
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert first.event == "live"
        assert first.data == (
            '<hx-partial hx-target="#live-region" hx-swap="innerHTML">'
            '<ul id="items"><li id="items-a">Apple</li></ul></hx-partial>'
        )

        ITEMS["b"] = "Banana"
        await pubsub.broadcast(TOPIC, "created", {"id": "b"})
        inserted = await stream.next_event()
        assert (
            inserted.data
            == '<hx-partial hx-target="#items" hx-swap="beforeend"><li id="items-b">Banana</li></hx-partial>'
        )
        assert int(inserted.id or 0) > int(first.id or 0)

        ITEMS["b"] = "Blueberry"
        await pubsub.broadcast(TOPIC, "updated", {"id": "b"})
        updated = await stream.next_event()
        assert (
            updated.data
            == '<hx-partial hx-target="#items-b" hx-swap="outerHTML"><li id="items-b">Blueberry</li></hx-partial>'
        )

        await pubsub.broadcast(TOPIC, "deleted", {"id": "b"})
        deleted = await stream.next_event()
        assert deleted.data == '<hx-partial hx-target="#items-b" hx-swap="delete"></hx-partial>'

        # Not on the page: nothing to swap, nothing sent.
        ITEMS["zz"] = "Zucchini"
        await pubsub.broadcast(TOPIC, "updated", {"id": "zz"})
        await pubsub.broadcast(TOPIC, "deleted", {"id": "nope"})
        await stream.no_event()


async def test_an_insert_of_a_row_already_shown_replaces_it(demo_app: FastAPI, demo_client: httpx.AsyncClient) -> None:
    ITEMS["a"] = "Apple"
    async with live_stream(demo_app, demo_client, "/demo") as stream:
        await stream.next_event()
        ITEMS["a"] = "Apricot"
        await pubsub.broadcast(TOPIC, "created", {"id": "a"})
        event = await stream.next_event()
        assert (
            event.data
            == '<hx-partial hx-target="#items-a" hx-swap="outerHTML"><li id="items-a">Apricot</li></hx-partial>'
        )


async def test_a_gap_re_renders_the_region(demo_app: FastAPI, demo_client: httpx.AsyncClient) -> None:
    async with live_stream(demo_app, demo_client, "/demo") as stream:
        await stream.next_event()
        ITEMS["c"] = "Cherry"  # changed while messages were lost
        pubsub.current()._gap("reconnected")
        event = await stream.next_event()
        assert event.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert '<li id="items-c">Cherry</li>' in event.data


async def test_a_reconnection_catches_up_with_what_changed_meanwhile(
    demo_app: FastAPI, demo_client: httpx.AsyncClient
) -> None:
    async with live_stream(demo_app, demo_client, "/demo") as stream:
        last = await stream.next_event()
    ITEMS["d"] = "Date"  # while the page was away: nobody heard of it
    async with live_stream(demo_app, demo_client, "/demo", last_event_id=last.id) as stream:
        event = await stream.next_event()
        assert '<li id="items-d">Date</li>' in event.data


async def test_pages_handling_the_same_message_share_one_load(
    demo_app: FastAPI, demo_client: httpx.AsyncClient
) -> None:
    async with (
        live_stream(demo_app, demo_client, "/demo") as one,
        live_stream(demo_app, demo_client, "/demo") as two,
        live_stream(demo_app, demo_client, "/demo") as three,
    ):
        for stream in (one, two, three):
            await stream.next_event()
        ITEMS["e"] = "Elderberry"
        await pubsub.broadcast(TOPIC, "created", {"id": "e"})
        for stream in (one, two, three):
            assert "Elderberry" in (await stream.next_event()).data
        assert LOADS == ["e"]


async def test_a_closed_page_leaves_no_subscription(demo_app: FastAPI, demo_client: httpx.AsyncClient) -> None:
    before = pubsub.subscriber_count(TOPIC)
    async with live_stream(demo_app, demo_client, "/demo") as stream:
        await stream.next_event()
        assert pubsub.subscriber_count(TOPIC) == before + 1
    assert pubsub.subscriber_count(TOPIC) == before


async def test_logging_out_tells_the_page_to_reload(demo_app: FastAPI, demo_client: httpx.AsyncClient) -> None:
    from tests.support.browser_forms import log_in
    from tests.support.fixtures.accounts import user_fixture

    user = await user_fixture()
    response = await log_in(demo_client, user.email)
    assert response.status_code == 303
    async with live_stream(demo_app, demo_client, "/demo") as stream:
        await stream.next_event()
        other = client_for(demo_app)
        other.cookies = demo_client.cookies  # the same browser session, in another tab
        page = await other.get("/demo")
        from tests.support.browser_forms import csrf_token_in

        await other.post("/users/log-out", data={"_csrf_token": csrf_token_in(page.text)})
        event = await stream.next_event()
        assert event.event == "reload"
        with pytest.raises(EOFError):
            await stream.next_event()


def test_a_patch_target_must_be_a_dom_id() -> None:
    with pytest.raises(ValueError, match="not a DOM id"):
        patches.delete('x" onclick="evil')
