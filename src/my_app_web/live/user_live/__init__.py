"""Live user management for admins (the seed's `UserLive`): `/users` lists users in a live table
with New and Edit modals (`index.py`), `/users/{id}` shows one (`show.py`), and the form both use
(`form.py`, the seed's FormComponent). `router` holds their routes, for the browser pipeline.

    GET  /users                      the list (`?limit=` shows more)        user_index
    GET  /users/new                  the list with the New User modal       user_new
    POST /users                      create → 303 /users, or 422 with the modal   user_create
    POST /users/validate             live validation of the New form        user_validate
    GET  /users/{id}/edit            the list with the Edit modal           user_edit
    POST /users/{id}                 update → 303, or 422 with the modal    user_update
    POST /users/{id}/validate        live validation of the Edit form       user_validate_edit
    POST /users/{id}/delete          delete → 303 /users                    user_delete
    GET  /users/{id}                 the user                               user_show
    GET  /users/{id}/show/edit       the user with the Edit modal           user_show_edit

Each GET is also its page's live stream (`Accept: text/event-stream`), behind the same checks:
admins only (403 for other users), visitors go to log in and come back.
"""

from __future__ import annotations

from fastapi import APIRouter

from my_app_web.live.user_live import index, show

router = APIRouter()
router.include_router(index.router)
router.include_router(show.router)

__all__ = ["router"]
