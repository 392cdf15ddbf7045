"""Pages never build a URL from the Host header: links are paths, absolute URLs are on APP_HOST."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from my_app.config import Settings
from my_app_web.endpoint import create_app
from my_app_web.templating import templates
from tests.support.conn_case import client_for

EVIL = {"host": "evil.example", "accept": "text/html"}


async def share_link(request: Request) -> HTMLResponse:
    source = '<a href="{{ absolute_url_for("home") }}">home</a> <link href="{{ url_for("static", path="app.css") }}">'
    return HTMLResponse(templates.env.from_string(source).render(request=request))


def app_for(settings: Settings) -> FastAPI:
    app = create_app(settings, start_application=False)
    app.add_api_route("/test/share", share_link, methods=["GET"])
    return app


async def test_a_page_requested_for_another_host_links_nowhere_else(settings: Settings) -> None:
    async with client_for(app_for(settings)) as client:
        for path in ["/", "/no-such-page"]:
            page = await client.get(path, headers=EVIL)

            assert "evil.example" not in page.text, path
            assert re.search(r'<link rel="stylesheet" href="/static/app-[0-9a-f]{32}\.css">', page.text)
            assert re.search(r'<a class="brand" href="/">MyApp</a>', page.text)


async def test_absolute_urls_are_built_on_app_host(settings: Settings) -> None:
    prod_like = settings.model_copy(update={"app_host": "example.com", "url_scheme": "https", "port": 443})

    async with client_for(app_for(prod_like)) as client:
        page = await client.get("/test/share", headers=EVIL)

    assert re.fullmatch(
        r'<a href="https://example.com/">home</a> <link href="/static/app-[0-9a-f]{32}\.css">', page.text
    )


async def test_links_keep_the_root_path_the_app_is_mounted_under(settings: Settings) -> None:
    app = app_for(settings)
    transport = httpx.ASGITransport(app=app, root_path="/myapp")
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:4000") as client:
        page = await client.get("/myapp/test/share")

    assert re.search(r'href="/myapp/static/app-[0-9a-f]{32}\.css"', page.text)
