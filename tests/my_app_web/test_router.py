"""The router as the app serves it: one flat list of routes, the same as FastAPI serves the
pipelines when they are declared as a tree of `include_router`s (what router.py did until issue 15)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.convertors import Convertor, FloatConvertor, IntegerConvertor, UUIDConvertor

from my_app_web.router import AppRoutes, Pipeline, include_flat, router


def as_tree(routes: AppRoutes) -> APIRouter:
    """The same routes the way FastAPI composes them: one router per pipeline (its prefix and
    dependencies), each including the pipeline's routers, all included by one root router."""
    root = APIRouter()
    for pipeline in routes.pipelines:
        group = APIRouter(prefix=pipeline.prefix, dependencies=list(pipeline.dependencies))
        for source in pipeline.routers:
            group.include_router(source)
        root.include_router(group)
    return root


def _signature(routes: list[Any]) -> list[tuple[Any, ...]]:
    """What a client or the API document sees of each API route, in order."""
    return [
        (
            context.path,
            sorted(context.methods or []),
            context.name,
            [getattr(d.dependency, "__qualname__", repr(d.dependency)) for d in context.dependencies],
            context.tags,
            context.responses,
            context.include_in_schema,
            context.status_code,
            getattr(context.response_class, "__name__", repr(context.response_class)),
            context.unique_id,
        )
        for context in iter_route_contexts(routes)
        if isinstance(context.original_route, APIRoute)
    ]


def test_the_app_serves_the_routes_of_the_tree_flat_and_in_order(web_app: FastAPI) -> None:
    nested = FastAPI()
    nested.include_router(as_tree(router))
    served = [route for route in web_app.router.routes if isinstance(route, APIRoute)]

    # Every route is the app's own (no router to descend into at request time) ...
    assert {type(route).__name__ for route in web_app.router.routes} <= {"APIRoute", "Route", "Mount", "WebSocketRoute"}
    # ... with the path, methods, name, pipeline dependencies, tags and responses it has in the
    # tree, in the same order.
    assert _signature(served) == _signature(nested.routes)
    assert len(served) > 100  # every page and API operation, not some


def test_the_api_document_is_the_same_flat_or_nested() -> None:
    nested, flat = FastAPI(), FastAPI()
    nested.include_router(as_tree(router))
    include_flat(flat.router, router)

    flat_document = get_openapi(title="t", version="1", routes=flat.routes)
    assert json.dumps(flat_document) == json.dumps(get_openapi(title="t", version="1", routes=nested.routes))
    assert "/api/products/{id}" in flat_document["paths"]


_SAMPLES: dict[type[Convertor[Any]], Any] = {IntegerConvertor: 7, FloatConvertor: 1.5, UUIDConvertor: uuid.UUID(int=7)}


def test_every_named_route_has_the_same_path_without_an_app(web_app: FastAPI) -> None:
    # `router.url_path_for` (emailed links, built where no app runs) agrees with the app's.
    routes = [route for route in web_app.router.routes if isinstance(route, APIRoute)]
    for route in routes:
        params = {name: _SAMPLES.get(type(convertor), "x") for name, convertor in route.param_convertors.items()}
        assert router.url_path_for(route.name, **params) == web_app.url_path_for(route.name, **params), route.name


async def test_prefixes_and_dependencies_of_every_level_apply() -> None:
    calls: list[str] = []

    def pipeline_check() -> None:
        calls.append("pipeline")

    def package_check() -> None:
        calls.append("package")

    def page_check() -> None:
        calls.append("page")

    leaf = APIRouter(prefix="/leaf", dependencies=[Depends(page_check)], tags=["leaves"])

    @leaf.get("/{item}", name="leaf_item")
    async def item(item: int) -> dict[str, int]:
        return {"item": item}

    package = APIRouter()  # a live package: includes its pages' routers
    package.include_router(leaf, prefix="/package", dependencies=[Depends(package_check)])
    routes = AppRoutes((Pipeline((package,), prefix="/api", dependencies=(Depends(pipeline_check),)),))
    app = FastAPI()
    include_flat(app.router, routes)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/api/package/leaf/7")).json() == {"item": 7}
        assert calls == ["pipeline", "package", "page"]  # the outer level's dependency first, as when nested
        assert (await client.get("/api/package/leaf/x")).status_code == 422  # the path parameter's type holds
        assert (await client.get("/package/leaf/7")).status_code == 404  # only at its full path
    assert app.url_path_for("leaf_item", item="3") == "/api/package/leaf/3"
    assert routes.url_path_for("leaf_item", item="3") == "/api/package/leaf/3"
    assert [route.tags for route in app.router.routes if isinstance(route, APIRoute)] == [["leaves"]]
