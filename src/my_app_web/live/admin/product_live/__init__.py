"""Live product management for admins: the list with New and Edit modals (`index.py`), one
product's page (`show.py`) and the form both use (`form.py`). Routes: see `live/admin`."""

from __future__ import annotations

from fastapi import APIRouter

from my_app_web.live.admin.product_live import index, show

router = APIRouter()
router.include_router(index.router)
router.include_router(show.router)

__all__ = ["router"]
