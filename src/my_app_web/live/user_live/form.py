"""The user form in its modal (the seed's `UserLive.FormComponent`): new and edit, live validation.

A `UserModal` is what the modal slot shows: the form (values and errors), where it posts, where
it validates as you type, and where Cancel goes. Validation messages come from the accounts
context in English (the API's wording) and are translated here for the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request

from my_app import accounts
from my_app.accounts import Scope, User
from my_app.gettext import gettext as _
from my_app_web.gettext import translate_errors
from my_app_web.live import Form
from my_app_web.templating import path_for

FORM_NAME = "user"
NEW_FIELDS = ("email", "name", "role", "password")
EDIT_FIELDS = ("email", "name", "role")
# Fields an update must not leave blank: `update_user` refuses them, its changeset does not say so.
REQUIRED_ON_EDIT = ("email", "name")
SLOT_ID = "user-modal-slot"
MODAL_TEMPLATE = "user_live/_modal.html"  # its `modal_slot(modal)` macro fills the slot
# The hidden field saying which page the edit modal was opened over (where Save and Cancel go).
RETURN_FIELD = "_return"
NO_ERRORS: Mapping[str, list[str]] = {}

ReturnTo = Literal["index", "show"]


@dataclass(frozen=True)
class UserModal:
    """The modal a page shows over itself: the form for a new user, or for editing `user`."""

    title: str
    form: Form
    fields: tuple[str, ...]
    action: str
    validate: str
    cancel_url: str
    return_to: ReturnTo = "index"
    user: User | None = None


def new_user_modal(
    request: Request, scope: Scope, values: Mapping[str, Any] | None = None, errors: Mapping[str, list[str]] = NO_ERRORS
) -> UserModal:
    """The New User form: empty (role "user"), or as posted with the errors that refused it."""
    if values is None:
        values = _values(accounts.change_new_user(scope).data, NEW_FIELDS)
    return UserModal(
        title=_("New User"),
        form=Form(FORM_NAME, _only(values, NEW_FIELDS), translate_errors(errors)),
        fields=NEW_FIELDS,
        action=path_for(request, "user_create"),
        validate=path_for(request, "user_validate"),
        cancel_url=path_for(request, "user_index"),
    )


def edit_user_modal(
    request: Request,
    user: User,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, list[str]] = NO_ERRORS,
    *,
    return_to: ReturnTo = "index",
) -> UserModal:
    """The Edit User form for `user`: its current values, or as posted with the errors that refused it."""
    cancel_url = (
        path_for(request, "user_show", user_id=user.id) if return_to == "show" else path_for(request, "user_index")
    )
    shown = values if values is not None else _values(user, EDIT_FIELDS)
    return UserModal(
        title=_("Edit User"),
        form=Form(FORM_NAME, _only(shown, EDIT_FIELDS), translate_errors(errors)),
        fields=EDIT_FIELDS,
        action=path_for(request, "user_update", user_id=user.id),
        validate=path_for(request, "user_validate_edit", user_id=user.id),
        cancel_url=cancel_url,
        return_to=return_to,
        user=user,
    )


def new_user_errors(scope: Scope, params: Mapping[str, str]) -> dict[str, list[str]]:
    """What is wrong with a new user's fields as typed so far (nothing is written)."""
    return translate_errors(accounts.change_new_user(scope, params).errors)


def edit_user_errors(scope: Scope, user: User, params: Mapping[str, str]) -> dict[str, list[str]]:
    """What is wrong with `user`'s fields as typed so far (nothing is written)."""
    errors = dict(accounts.change_user(scope, user, params).errors)
    for field in REQUIRED_ON_EDIT:
        if field in params and not params[field].strip():
            errors.setdefault(field, ["can't be blank"])
    return translate_errors(errors)


def return_to_of(params: Mapping[str, str]) -> ReturnTo:
    return "show" if params.get(RETURN_FIELD) == "show" else "index"


def _values(record: object, fields: tuple[str, ...]) -> dict[str, Any]:
    return {field: getattr(record, field, None) for field in fields}


def _only(values: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    # The password is never rendered back (the input component leaves it out anyway).
    return {field: values.get(field) for field in fields if field != "password"}
