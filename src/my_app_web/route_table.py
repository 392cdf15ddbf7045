"""The app's routes looked up by the first segment of the path, then matched in order as Starlette does.

Starlette (and FastAPI's router) try every route in turn until one matches: a request for
`/api/users/me` was checked against ~85 routes before its own (the browser pages come first), each
a regular expression and FastAPI's per-route context lookup: ~10% of a cached API read's CPU
(bench/README.md). Most routes start with a literal segment (`/api`, `/users`, `/admin`), and a
path can only match routes whose first segment is its own, or routes that could match anything
(a parameter there, a mount at the root, an included router). So the table keeps, for each first
segment, the routes that could match it, in their order, and hands the request to a router of
those alone: the same matches, partial matches (405s), slash redirects and 404s, found sooner.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Mount
from starlette.types import Receive, Scope, Send


def first_segment(route: BaseRoute) -> str | None:
    """The literal first segment every path `route` matches starts with; None when it could be any.

    Examples:
        first_segment(APIRoute("/api/users/{id}", ...))   # "api"
        first_segment(APIRoute("/", ...))                 # ""
        first_segment(APIRoute("/{slug}", ...))           # None
    """
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path.startswith("/"):
        return None  # an included router, a host: matched in order, whatever the path
    if isinstance(route, Mount) and path == "":
        return None
    segment = path[1:].split("/", 1)[0]
    return None if "{" in segment else segment


class RouteTable:
    """The ASGI app at the centre of the middleware: `router`'s routes, dispatched by first segment.

    `router` stays the app's router (`app.router`: `url_path_for`, the OpenAPI document, the
    lifespan); the table follows its routes, rebuilt when routes are added after it was built.

    Examples:
        app = RouteTable(fastapi_app.router)   # what Endpoint.build_middleware_stack puts innermost
    """

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._built_count = -1
        self._built_last: BaseRoute | None = None
        self._tables: dict[str, APIRouter] = {}
        self._anywhere = self._table([])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.router(scope, receive, send)
            return
        routes = self.router.routes
        if len(routes) != self._built_count or (routes and routes[-1] is not self._built_last):
            self._build(routes)
        # `request.url_for` looks routes up in the router it finds here: every route, not the table's.
        scope.setdefault("router", self.router)
        segment = get_route_path(scope)[1:].split("/", 1)[0]
        await self._tables.get(segment, self._anywhere)(scope, receive, send)

    def _build(self, routes: list[BaseRoute]) -> None:
        segments = [first_segment(route) for route in routes]
        self._tables = {
            segment: self._table([route for route, own in zip(routes, segments, strict=True) if own in (segment, None)])
            for segment in {segment for segment in segments if segment is not None}
        }
        self._anywhere = self._table([route for route, own in zip(routes, segments, strict=True) if own is None])
        self._built_count, self._built_last = len(routes), routes[-1] if routes else None

    def _table(self, routes: Sequence[BaseRoute]) -> APIRouter:
        table = APIRouter(redirect_slashes=self.router.redirect_slashes, default=self.router.default)
        table.routes = list(routes)  # the app's own route objects: nothing is analysed again
        table.form_limits = self.router.form_limits
        return table
