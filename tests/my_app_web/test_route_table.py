"""The route table finds the same route Starlette's in-order walk would, sooner."""

from __future__ import annotations

import httpx
from fastapi import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from my_app_web.endpoint import Endpoint
from my_app_web.route_table import RouteTable, literal_prefix


def table_app() -> Endpoint:
    app = Endpoint()  # its middleware stack has the route table at its centre
    router = app.router  # routes of its own, flat, as `include_flat` leaves the app's

    @router.get("/api/things/{thing_id}", name="thing")
    async def thing(thing_id: int, request: Request) -> dict[str, object]:
        # A route of another segment is still found by name.
        return {"id": thing_id, "home": str(request.url_for("home"))}

    @router.post("/api/things")
    async def create_thing() -> dict[str, str]:
        return {"created": "yes"}

    @router.get("/{slug}/about")
    async def about(slug: str) -> dict[str, str]:
        return {"about": slug}

    @router.get("/files/{rest:path}")
    async def files(rest: str) -> dict[str, str]:
        return {"file": rest}

    @router.get("/", name="home")
    async def home() -> dict[str, str]:
        return {"page": "home"}

    return app


def client_for(app: Endpoint) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def test_a_route_s_literal_prefix_is_its_first_two_segments_or_none_where_any_could_match() -> None:
    app = table_app()
    prefixes = {getattr(route, "path", ""): literal_prefix(route) for route in app.router.routes}
    assert prefixes["/api/things/{thing_id}"] == ("api", "things")
    assert prefixes["/api/things"] == ("api", "things")
    assert prefixes["/"] == ("", "")
    assert prefixes["/{slug}/about"] == (None, "about")
    static = Mount("/static", app=StaticFiles(directory=".", check_dir=False))
    assert literal_prefix(static) == ("static", None)


async def test_requests_reach_the_route_they_would_reach_in_order() -> None:
    app = table_app()
    async with client_for(app) as client:
        assert (await client.get("/api/things/7")).json() == {"id": 7, "home": "http://testserver/"}
        assert (await client.post("/api/things")).json() == {"created": "yes"}
        assert (await client.get("/api/about")).json() == {"about": "api"}  # a parameter route serves every segment
        assert (await client.get("/docs/about")).json() == {"about": "docs"}
        assert (await client.get("/files/a/b/c")).json() == {"file": "a/b/c"}  # a path parameter spans segments
        assert (await client.get("/")).json() == {"page": "home"}


async def test_wrong_methods_missing_paths_and_slashes_answer_as_starlette_does() -> None:
    app = table_app()
    async with client_for(app) as client:
        assert (await client.delete("/api/things/7")).status_code == 405
        assert (await client.get("/api/nothing")).status_code == 404
        assert (await client.get("/nowhere")).status_code == 404
        redirected = await client.get("/api/things/7/", follow_redirects=False)
        assert (redirected.status_code, redirected.headers["location"]) == (307, "http://testserver/api/things/7")


async def test_a_route_added_after_the_first_request_is_served() -> None:
    app = table_app()
    async with client_for(app) as client:
        assert (await client.get("/late")).status_code == 404

        @app.get("/late")
        async def late() -> dict[str, str]:
            return {"late": "yes"}

        assert (await client.get("/late")).json() == {"late": "yes"}


def test_the_endpoint_s_stack_ends_in_the_route_table() -> None:
    app = table_app()
    layer = app.build_middleware_stack()
    while hasattr(layer, "app"):
        layer = layer.app
    assert isinstance(layer, RouteTable)
    assert layer.router is app.router
