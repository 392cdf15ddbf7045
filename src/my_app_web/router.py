"""Every route of the app, grouped by pipeline (Phoenix's router.ex)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute, iter_route_contexts

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

browser = APIRouter(dependencies=[Depends(fetch_current_user)])
for browser_router in BROWSER_ROUTERS:
    browser.include_router(browser_router)

api = APIRouter(prefix="/api")
for api_router in API_ROUTERS:
    api.include_router(api_router)

router = APIRouter()
router.include_router(health.router)
router.include_router(metrics_controller.router)  # GET /metrics: admins, or Bearer METRICS_TOKEN
router.include_router(browser)
router.include_router(api)


def include_flat(target: APIRouter, source: APIRouter) -> None:
    """Add every route of `source`'s tree to `target` as a route of its own: at its full path, with
    the dependencies, tags and responses it has through the routers that include it, in order.

    Why: FastAPI 0.16x keeps included routers as they are and matches them at request time, level by
    level, and every level matches again when it handles the request. Our routes are nested up to
    five routers deep (pipelines, then live packages, then pages): the first matching pass alone took
    245 µs for `/api/products/{id}`, ~40% of a cached read's CPU (bench/README.md). A flat list is
    matched once, in order, as Starlette does. The OpenAPI document is the same either way (a test
    compares them).
    """
    for context in iter_route_contexts(source.routes):
        path, endpoint = context.path, context.endpoint
        if not isinstance(context.original_route, APIRoute) or path is None or endpoint is None:
            raise TypeError(f"include_flat takes API routes only, not {context.original_route!r}")
        target.add_api_route(
            path,
            endpoint,
            response_model=context.response_model,
            status_code=context.status_code,
            tags=context.tags,
            dependencies=context.dependencies,
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
