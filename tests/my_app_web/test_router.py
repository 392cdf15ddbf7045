"""The router as the app serves it: one flat list of routes, the same as the tree router.py declares."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from my_app_web.router import include_flat, router


def _signature(routes: list[object]) -> list[tuple[str | None, list[str], str | None, list[str]]]:
    return [
        (
            context.path,
            sorted(context.methods or []),
            context.name,
            [getattr(d.dependency, "__qualname__", repr(d.dependency)) for d in context.dependencies],
        )
        for context in iter_route_contexts(routes)  # type: ignore[arg-type]
        if isinstance(context.original_route, APIRoute)
    ]


def test_the_app_serves_the_routes_of_the_tree_flat_and_in_order(web_app: FastAPI) -> None:
    nested = FastAPI()
    nested.include_router(router)
    served = [route for route in web_app.router.routes if isinstance(route, APIRoute)]

    # Every route is the app's own (no router to descend into at request time) ...
    assert {type(route).__name__ for route in web_app.router.routes} <= {"APIRoute", "Route", "Mount", "WebSocketRoute"}
    # ... with the path, methods, name and pipeline dependencies it has in the tree, in the same order.
    assert _signature(served) == _signature(nested.routes)  # type: ignore[arg-type]


def test_the_api_document_is_the_same_flat_or_nested() -> None:
    nested, flat = FastAPI(), FastAPI()
    nested.include_router(router)
    include_flat(flat.router, router)

    assert get_openapi(title="t", version="1", routes=flat.routes) == get_openapi(
        title="t", version="1", routes=nested.routes
    )


async def test_prefixes_and_dependencies_of_every_level_apply() -> None:
    calls: list[str] = []

    def outer() -> None:
        calls.append("outer")

    def inner() -> None:
        calls.append("inner")

    leaf = APIRouter(prefix="/leaf", dependencies=[Depends(inner)])

    @leaf.get("/{item}", name="leaf_item")
    async def item(item: int) -> dict[str, int]:
        return {"item": item}

    middle = APIRouter(prefix="/api", dependencies=[Depends(outer)])
    middle.include_router(leaf)
    app = FastAPI()
    include_flat(app.router, middle)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/api/leaf/7")).json() == {"item": 7}
        assert calls == ["outer", "inner"]  # the outer router's dependency first, as when nested
        assert (await client.get("/api/leaf/x")).status_code == 422  # the path parameter's type holds
        assert (await client.get("/leaf/7")).status_code == 404  # only at its full path
    assert app.url_path_for("leaf_item", item="3") == "/api/leaf/3"
