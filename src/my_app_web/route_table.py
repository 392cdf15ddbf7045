"""The app's routes looked up by the first segments of the path, then matched in order as Starlette does.

Starlette (and FastAPI's router) try every route in turn until one matches: a request for
`/api/users/me` was checked against ~85 routes before its own (the browser pages come first), each
a regular expression and FastAPI's per-route context lookup: ~10% of a cached API read's CPU
(bench/README.md). Most routes start with literal segments (`/api/products`, `/users/log-in`), and
a path can only match routes whose literal segments are its own, or that have a parameter there
(or match anything: a mount at the root, an included router). So the table keeps, for each first
two segments (and each first one), the routes that could match such a path, in their order, and
hands the request to a router of those alone: the same matches, partial matches (405s), slash
redirects and 404s, found sooner (`/api/products` is tried against 1 route, not 27).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Mount
from starlette.types import Receive, Scope, Send


def literal_prefix(route: BaseRoute) -> tuple[str | None, str | None]:
    """The first two segments every path `route` matches starts with; None where it could be anything.

    A second segment of `""` means the path has only one (`/health`, or `/health/` once redirected).

    Examples:
        literal_prefix(APIRoute("/api/users/{id}", ...))   # ("api", "users")
        literal_prefix(APIRoute("/users/{id}", ...))       # ("users", None)
        literal_prefix(APIRoute("/", ...))                 # ("", "")
        literal_prefix(APIRoute("/{slug}/about", ...))     # (None, "about")
        literal_prefix(Mount("/static", ...))              # ("static", None): anything below it
    """
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path.startswith("/") or (isinstance(route, Mount) and path == ""):
        return None, None  # an included router, a host, a root mount: matched in order, whatever the path
    first, _, rest = path[1:].partition("/")
    if ":path}" in first:
        return None, None  # a path parameter spans segments
    second = None if isinstance(route, Mount) else rest.split("/", 1)[0]
    return (None if "{" in first else first), (None if second is None or "{" in second else second)


def _request_prefix(path: str) -> tuple[str, str]:
    first, _, rest = path[1:].partition("/")
    return first, rest.split("/", 1)[0]


class RouteTable:
    """The ASGI app at the centre of the middleware: `router`'s routes, dispatched by their literal prefix.

    `router` stays the app's router (`app.router`: `url_path_for`, the OpenAPI document, the
    lifespan); the table follows its routes, rebuilt when routes are added after it was built.

    Examples:
        app = RouteTable(fastapi_app.router)   # what Endpoint.build_middleware_stack puts innermost
    """

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._built_count = -1
        self._built_last: BaseRoute | None = None
        self._by_two: dict[tuple[str, str], APIRouter] = {}
        self._by_first: dict[str, APIRouter] = {}
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
        first, second = _request_prefix(get_route_path(scope))
        table = self._by_two.get((first, second))
        if table is None:
            table = self._by_first.get(first, self._anywhere)
        await table(scope, receive, send)

    def _build(self, routes: list[BaseRoute]) -> None:
        prefixes = [literal_prefix(route) for route in routes]

        def could_match(first: str | None, second: str | None) -> list[BaseRoute]:
            # In the app's order: every route whose prefix does not rule the path out.
            return [
                route
                for route, (own_first, own_second) in zip(routes, prefixes, strict=True)
                if own_first in (first, None) and (second is None or own_second in (second, None))
            ]

        pairs = {(first, second) for first, second in prefixes if first is not None and second is not None}
        self._by_two = {pair: self._table(could_match(*pair)) for pair in pairs}
        firsts = {first for first, _ in prefixes if first is not None}
        self._by_first = {first: self._table(could_match(first, None)) for first in firsts}
        self._anywhere = self._table(could_match(None, None))
        self._built_count, self._built_last = len(routes), routes[-1] if routes else None

    def _table(self, routes: Sequence[BaseRoute]) -> APIRouter:
        table = APIRouter(redirect_slashes=self.router.redirect_slashes, default=self.router.default)
        table.routes = list(routes)  # the app's own route objects: nothing is analysed again
        table.form_limits = self.router.form_limits
        return table
