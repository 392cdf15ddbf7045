from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx


async def test_home_renders_the_layout(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().lower().startswith("<!doctype html>")
    assert re.search(r'<a class="brand" href="[^"]*">MyApp</a>', response.text)
    assert "<title>Welcome · MyApp</title>" in response.text
    assert "Welcome to MyApp" in response.text


async def test_the_layout_s_stylesheet_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    assert stylesheet is not None
    # Its digested name (my_app_web.static_files), cached for a year.
    assert re.fullmatch(r"/static/app-[0-9a-f]{32}\.css", urlsplit(stylesheet.group(1)).path)

    response = await client.get(stylesheet.group(1))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert ".topbar" in response.text


async def test_every_link_on_the_home_page_leads_somewhere(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    links = {urlsplit(href).path for href in re.findall(r'<a [^>]*href="([^"]+)"', page.text)}
    assert links >= {"/", "/health", "/ready", "/api/docs"}

    for path in sorted(links):
        response = await client.get(path)
        assert response.status_code == 200, path
