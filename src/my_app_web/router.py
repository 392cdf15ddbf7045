"""Every route of the app, grouped by pipeline (Phoenix's router.ex)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, params
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.datastructures import URLPath
from starlette.routing import Route, Router

from my_app_web.controllers import (
    chat_controller,
    health,
    metrics_controller,
    page,
    user_confirmation_controller,
    user_registration_controller,
    user_reset_password_controller,
    user_session_controller,
    user_settings_controller,
)
from my_app_web.controllers.api import (
    category_controller,
    comment_controller,
    post_controller,
    product_controller,
    session_controller,
    socket_token_controller,
    user_controller,
)
from my_app_web.live import admin, blog_live, product_live, user_live
from my_app_web.live.admin import dashboard_live
from my_app_web.plugs.auth import fetch_current_user

# pipeline :browser (the signed-in user, if any, is fetched for every page: the navigation shows it).
# In order: a path an earlier router serves is never reached through a later one. `myapp gen live`
# and `myapp gen html` add their pages at the end (the tuple is edited as parsed code, not as text).
BROWSER_ROUTERS: tuple[APIRouter, ...] = (
    page.router,
    user_session_controller.router,
    user_confirmation_controller.router,
    user_reset_password_controller.router,
    user_settings_controller.router,
    user_registration_controller.router,
    # After the auth pages (`/users/{id}` takes UUIDs only, but `/users/register` and the rest come first).
    user_live.router,
    chat_controller.router,
    # /admin/categories and /admin/products: the catalog's admin pages (issue 11).
    admin.router,
    # /admin/dashboard: the ops dashboard (issue 12); /dev/dashboard is mounted with the dev routes.
    dashboard_live.router,
    product_live.router,
    blog_live.router,
)

# pipeline :api (under /api). `myapp gen json` adds its controllers at the end.
API_ROUTERS: tuple[APIRouter, ...] = (
    user_controller.router,
    session_controller.router,
    socket_token_controller.router,
    category_controller.router,
    product_controller.router,
    post_controller.router,
    comment_controller.router,
)


@dataclass(frozen=True)
class Pipeline:
    """Routers served under one path prefix, behind the same dependencies (Phoenix's `scope`, piped
    through a pipeline). The pipeline's dependencies run before each route's own."""

    routers: Sequence[APIRouter]
    prefix: str = ""
    dependencies: Sequence[params.Depends] = ()


@dataclass(frozen=True)
class AppRoutes:
    """The app's routes, by pipeline, in order: a path an earlier route serves is never reached
    through a later one. `include_flat` serves them; `url_path_for` builds their paths."""

    pipelines: tuple[Pipeline, ...]

    def route_contexts(self) -> Iterator[tuple[Pipeline, RouteContext]]:
        """Each route, in order, with the pipeline it is served in.

        A route that a controller declared on its own router is its own context (nothing to analyse).
        A package's router (`live.admin`: `include_router` of its pages' routers) is walked with
        FastAPI's `iter_route_contexts`, which composes what each level adds, as FastAPI does when it
        serves an included router.
        """
        for pipeline in self.pipelines:
            for source in pipeline.routers:
                for context in iter_route_contexts(source.routes):
                    yield pipeline, context

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path of the route called `name` (emailed links: no app, no request needed)."""
        return self._paths.url_path_for(name, **path_params)

    @functools.cached_property
    def _paths(self) -> Router:
        # Starlette routes, built on first use: a job worker sends emails without serving the pages,
        # and FastAPI routes would each analyse their endpoint again (tens of ms in all).
        return Router(
            routes=[
                Route(pipeline.prefix + context.path, context.endpoint, methods=context.methods, name=context.name)
                for pipeline, context in self.route_contexts()
                if context.path is not None and context.endpoint is not None
            ]
        )


# Phoenix's MyAppWeb.Router: every route of the app.
router = AppRoutes(
    (
        Pipeline((health.router, metrics_controller.router)),  # GET /metrics: admins, or Bearer METRICS_TOKEN
        Pipeline(BROWSER_ROUTERS, dependencies=(Depends(fetch_current_user),)),
        Pipeline(API_ROUTERS, prefix="/api"),
    )
)


def include_flat(target: APIRouter, routes: AppRoutes) -> None:
    """Add every route of `routes` to `target` as a route of its own: at its full path, with
    its pipeline's dependencies first, then the dependencies, tags and responses it has through the
    routers that include it, in order.

    Why flat: FastAPI 0.16x keeps included routers as they are and matches them at request time,
    level by level, and every level matches again when it handles the request. Our routes are nested
    up to five routers deep (pipelines, then live packages, then pages): the first matching pass
    alone took 245 µs for `/api/products/{id}`, ~40% of a cached read's CPU (bench/README.md). A flat
    list is matched once, in order, as Starlette does.

    Why from the pipelines, not from an `include_router` tree: FastAPI analyses a route (its
    dependencies, parameters and response model: pydantic TypeAdapters, ~1.4 ms each) once per
    router level that includes it, and `include_router` walks what it includes. Declared as a tree
    (browser, api, then the app's router), our 129 routes were analysed 590 times at start-up, ~0.45 s.
    Here each route is analysed when its controller declares it and once more as the app's route
    (a package's pages once more, by `iter_route_contexts`). The OpenAPI document and the routes
    are the same as the tree's (tests/my_app_web/test_router.py builds the tree and compares).
    """
    for pipeline, context in routes.route_contexts():
        path, endpoint = context.path, context.endpoint
        if not isinstance(context.original_route, APIRoute) or path is None or endpoint is None:
            raise TypeError(f"include_flat takes API routes only, not {context.original_route!r}")
        target.add_api_route(
            pipeline.prefix + path,
            endpoint,
            response_model=context.response_model,
            status_code=context.status_code,
            tags=context.tags,
            dependencies=[*pipeline.dependencies, *context.dependencies],
            summary=context.summary,
            description=context.description,
            response_description=context.response_description,
            responses=context.responses,
            deprecated=context.deprecated,
            methods=context.methods,
            operation_id=context.operation_id,
            response_model_include=context.response_model_include,
            response_model_exclude=context.response_model_exclude,
            response_model_by_alias=context.response_model_by_alias,
            response_model_exclude_unset=context.response_model_exclude_unset,
            response_model_exclude_defaults=context.response_model_exclude_defaults,
            response_model_exclude_none=context.response_model_exclude_none,
            include_in_schema=context.include_in_schema,
            response_class=context.response_class,
            name=context.name,
            callbacks=context.callbacks,
            openapi_extra=context.openapi_extra,
            generate_unique_id_function=context.generate_unique_id_function,
        )
