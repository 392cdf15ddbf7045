"""Every route of the app, grouped by pipeline (Phoenix's router.ex)."""

from __future__ import annotations

from fastapi import APIRouter

from my_app_web.controllers import health, page

# pipeline :browser
browser = APIRouter()
browser.include_router(page.router)

# pipeline :api (JSON controllers join here)
api = APIRouter(prefix="/api")

router = APIRouter()
router.include_router(health.router)
router.include_router(browser)
router.include_router(api)
