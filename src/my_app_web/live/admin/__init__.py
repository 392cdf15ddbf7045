"""Admin pages for the catalog (the seed's `phx.gen.live Catalog Category` and `Catalog Product`):
`/admin/categories` and `/admin/products`, each a live list with New and Edit modals, a show page
and Delete, in the shape of the live user management (`user_live`). `router` holds their routes,
for the browser pipeline; who may use them is `user_live.access`'s rule (admins; others signed in
get 403; visitors log in and come back).

    GET  /admin/categories                    the list                        admin_category_index
    GET  /admin/categories/new                the list with the New modal     admin_category_new
    POST /admin/categories                    create → 303, or 422 + modal    admin_category_create
    POST /admin/categories/validate           live validation (New)           admin_category_validate
    GET  /admin/categories/{id}/edit          the list with the Edit modal    admin_category_edit
    POST /admin/categories/{id}               update → 303, or 422 + modal    admin_category_update
    POST /admin/categories/{id}/validate      live validation (Edit)          admin_category_validate_edit
    POST /admin/categories/{id}/delete        delete → 303 (refused while it has products)
    GET  /admin/categories/{id}               the category                    admin_category_show
    GET  /admin/categories/{id}/show/edit     the category with Edit          admin_category_show_edit

and the same for `/admin/products` (`admin_product_*`), whose list is newest first, loaded by
keyset pages, with "Show more" (`?limit=`). Each GET is also its page's live stream.
"""

from __future__ import annotations

from fastapi import APIRouter

from my_app_web.live.admin import category_live, product_live

router = APIRouter()
router.include_router(category_live.router)
router.include_router(product_live.router)

__all__ = ["router"]
