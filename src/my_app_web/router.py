"""Every route of the app, grouped by pipeline (Phoenix's router.ex)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from my_app_web.controllers import (
    chat_controller,
    health,
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
from my_app_web.plugs.auth import fetch_current_user

# pipeline :browser (the signed-in user, if any, is fetched for every page: the navigation shows it)
browser = APIRouter(dependencies=[Depends(fetch_current_user)])
browser.include_router(page.router)
browser.include_router(user_session_controller.router)
browser.include_router(user_confirmation_controller.router)
browser.include_router(user_reset_password_controller.router)
browser.include_router(user_settings_controller.router)
browser.include_router(user_registration_controller.router)
# After the auth pages (`/users/{id}` takes UUIDs only, but `/users/register` and the rest come first).
browser.include_router(user_live.router)
browser.include_router(chat_controller.router)
# /admin/categories and /admin/products: the catalog's admin pages (issue 11).
browser.include_router(admin.router)
browser.include_router(product_live.router)
browser.include_router(blog_live.router)

# pipeline :api
api = APIRouter(prefix="/api")
api.include_router(user_controller.router)
api.include_router(session_controller.router)
api.include_router(socket_token_controller.router)
api.include_router(category_controller.router)
api.include_router(product_controller.router)
api.include_router(post_controller.router)
api.include_router(comment_controller.router)

router = APIRouter()
router.include_router(health.router)
router.include_router(browser)
router.include_router(api)
