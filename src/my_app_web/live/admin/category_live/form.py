"""The category form in its modal (the seed's `CategoryLive.FormComponent`): new and edit, live validation.

Live validation asks the catalog what saving would say, writing nothing: the changeset's checks,
then whether the name (any letter case) or the slug is taken by another category, so "has already
been taken" shows as you type rather than only when you save.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from my_app import catalog
from my_app.accounts import Scope
from my_app.catalog import Category
from my_app.gettext import gettext as _
from my_app_web.gettext import translate_errors
from my_app_web.live import Form
from my_app_web.live.admin.modal import NO_ERRORS, AdminModal, ReturnTo
from my_app_web.templating import path_for

FORM_NAME = "category"
FIELDS = ("name", "slug", "description")
SLOT_ID = "category-modal-slot"
MODAL_TEMPLATE = "admin/category_live/_modal.html"
_TAKEN = ["has already been taken"]


def new_category_modal(
    request: Request, values: Mapping[str, Any] | None = None, errors: Mapping[str, list[str]] = NO_ERRORS
) -> AdminModal:
    """The New Category form: empty, or as posted with the errors that refused it."""
    return AdminModal(
        title=_("New Category"),
        form=Form(FORM_NAME, _only(values or {}), translate_errors(errors)),
        fields=FIELDS,
        action=path_for(request, "admin_category_create"),
        validate=path_for(request, "admin_category_validate"),
        cancel_url=path_for(request, "admin_category_index"),
    )


def edit_category_modal(
    request: Request,
    category: Category,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, list[str]] = NO_ERRORS,
    *,
    return_to: ReturnTo = "index",
) -> AdminModal:
    """The Edit Category form for `category`: its current values, or as posted with the errors."""
    shown = values if values is not None else {field: getattr(category, field) for field in FIELDS}
    if return_to == "show":
        cancel_url = path_for(request, "admin_category_show", category_id=category.id)
    else:
        cancel_url = path_for(request, "admin_category_index")
    return AdminModal(
        title=_("Edit Category"),
        form=Form(FORM_NAME, _only(shown), translate_errors(errors)),
        fields=FIELDS,
        action=path_for(request, "admin_category_update", category_id=category.id),
        validate=path_for(request, "admin_category_validate_edit", category_id=category.id),
        cancel_url=cancel_url,
        return_to=return_to,
    )


async def category_errors(scope: Scope, category: Category | None, params: Mapping[str, str]) -> dict[str, list[str]]:
    """What saving these fields (a new category, or changes to `category`) would refuse; writes nothing."""
    errors = dict(catalog.change_category(category, params).errors)
    name = params.get("name", "").strip()
    if name and "name" not in errors:
        others = await catalog.list_categories(scope)
        if any(other.name.lower() == name.lower() and not _same(other, category) for other in others):
            errors["name"] = _TAKEN
    slug = params.get("slug", "").strip()
    if slug and "slug" not in errors:
        other = await catalog.get_category_by_slug(scope, slug)
        if other is not None and not _same(other, category):
            errors["slug"] = _TAKEN
    return translate_errors(errors)


def _same(other: Category, category: Category | None) -> bool:
    return category is not None and other.id == category.id


def _only(values: Mapping[str, Any]) -> dict[str, Any]:
    return {field: values.get(field) for field in FIELDS}
