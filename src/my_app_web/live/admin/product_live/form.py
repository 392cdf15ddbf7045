"""The product form in its modal (the seed's `ProductLive.FormComponent`): new and edit, live validation.

The category is a select of every category; the price is decimal text ("19.99"), and a German
decimal comma ("19,99") is read as the point it means before the catalog sees it. Live validation
asks the catalog what saving would say, writing nothing: the changeset's checks, then whether the
SKU is taken by another product, so "has already been taken" shows as you type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from my_app import catalog
from my_app.accounts import Scope
from my_app.catalog import Product
from my_app.gettext import gettext as _
from my_app_web.gettext import format_decimal, translate_errors
from my_app_web.live import Form
from my_app_web.live.admin.modal import NO_ERRORS, AdminModal, ReturnTo
from my_app_web.templating import path_for

FORM_NAME = "product"
FIELDS = ("name", "sku", "category_id", "price", "stock", "description")
SLOT_ID = "product-modal-slot"
MODAL_TEMPLATE = "admin/product_live/_modal.html"
_TAKEN = ["has already been taken"]


async def new_product_modal(
    request: Request, scope: Scope, values: Mapping[str, Any] | None = None, errors: Mapping[str, list[str]] = NO_ERRORS
) -> AdminModal:
    """The New Product form: empty (stock 0), or as posted with the errors that refused it."""
    return AdminModal(
        title=_("New Product"),
        form=Form(FORM_NAME, _only(values if values is not None else {"stock": 0}), translate_errors(errors)),
        fields=FIELDS,
        action=path_for(request, "admin_product_create"),
        validate=path_for(request, "admin_product_validate"),
        cancel_url=path_for(request, "admin_product_index"),
        options={"category_id": await category_options(scope)},
    )


async def edit_product_modal(
    request: Request,
    scope: Scope,
    product: Product,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, list[str]] = NO_ERRORS,
    *,
    return_to: ReturnTo = "index",
) -> AdminModal:
    """The Edit Product form for `product`: its current values, or as posted with the errors."""
    shown: Mapping[str, Any]
    if values is None:
        # The stored price as the reader writes it back: "12,50" in German (no grouping: what
        # `product_params` reads), "12.50" in English.
        shown = {field: getattr(product, field) for field in FIELDS} | {"price": format_decimal(product.price, "0.00")}
    else:
        shown = values
    if return_to == "show":
        cancel_url = path_for(request, "admin_product_show", product_id=product.id)
    else:
        cancel_url = path_for(request, "admin_product_index")
    return AdminModal(
        title=_("Edit Product"),
        form=Form(FORM_NAME, _only(shown), translate_errors(errors)),
        fields=FIELDS,
        action=path_for(request, "admin_product_update", product_id=product.id),
        validate=path_for(request, "admin_product_validate_edit", product_id=product.id),
        cancel_url=cancel_url,
        return_to=return_to,
        options={"category_id": await category_options(scope)},
    )


async def category_options(scope: Scope) -> list[tuple[str, str]]:
    """The category select's choices, by name: (id, name)."""
    return [(str(category.id), category.name) for category in await catalog.list_categories(scope)]


def product_params(params: Mapping[str, str]) -> dict[str, str]:
    """The posted fields as the catalog takes them: a decimal comma in the price becomes a point."""
    cleaned = dict(params)
    price = cleaned.get("price", "").strip()
    if "," in price and "." not in price and price.count(",") == 1:
        cleaned["price"] = price.replace(",", ".")
    return cleaned


async def product_errors(scope: Scope, product: Product | None, params: Mapping[str, str]) -> dict[str, list[str]]:
    """What saving these fields (a new product, or changes to `product`) would refuse; writes nothing."""
    attrs = product_params(params)
    errors = dict(catalog.change_product(product, attrs).errors)
    sku = attrs.get("sku", "").strip()
    if sku and "sku" not in errors:
        other = await catalog.get_product_by_sku(scope, sku)
        if other is not None and (product is None or other.id != product.id):
            errors["sku"] = _TAKEN
    return translate_errors(errors)


def _only(values: Mapping[str, Any]) -> dict[str, Any]:
    return {field: values.get(field) for field in FIELDS}
