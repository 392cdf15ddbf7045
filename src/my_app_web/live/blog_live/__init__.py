"""The blog's live pages (the seed's `PostLive`): the index of published posts (`index.py`), a
writer's drafts (`drafts.py`), the post form (`form.py`) and the post with its comments
(`show.py`). `router` holds their routes, for the browser pipeline; the fixed paths (`/blog/new`,
`/blog/drafts`) come before `/blog/{slug}`.

    GET  /blog                        published posts, newest first (`?limit=` shows more)
    GET  /blog/drafts                 the writer's drafts
    GET  /blog/new, /blog/{slug}/edit the post form (POST /blog, POST /blog/{slug}; .../validate)
    POST /blog/{slug}/delete          delete a post
    GET  /blog/{slug}                 the post with its comments (POST .../comments to comment)

Each GET of a live page is also its stream (`Accept: text/event-stream`), behind the same checks.
"""

from __future__ import annotations

from fastapi import APIRouter

from my_app_web.live.blog_live import drafts, form, index, show

router = APIRouter()
router.include_router(index.router)
router.include_router(drafts.router)
router.include_router(form.router)
router.include_router(show.router)

__all__ = ["router"]
