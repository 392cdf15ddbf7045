"""Every route of the app, grouped by pipeline (Phoenix's router.ex)."""

from __future__ import annotations

from fastapi import APIRouter

from my_app_web.controllers import health, page
from my_app_web.controllers.api import session_controller, socket_token_controller, user_controller

# pipeline :browser
browser = APIRouter()
browser.include_router(page.router)

# pipeline :api
api = APIRouter(prefix="/api")
api.include_router(user_controller.router)
api.include_router(session_controller.router)
api.include_router(socket_token_controller.router)

router = APIRouter()
router.include_router(health.router)
router.include_router(browser)
router.include_router(api)
