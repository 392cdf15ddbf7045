"""Forms on pages: a changeset's values and errors for the templates (Phoenix's `to_form`).

Examples:
    changeset = accounts.change_user(scope, user, params)
    form = Form.from_changeset(changeset, "user", fields=("name", "email", "role"))
    form.value("email"), form.errors_for("email")          # what the `input` component takes

    params = await form_params(request)                     # the posted fields, CSRF token left out
    if is_htmx(request): ...                                # a live-validation request
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from my_app.changeset import Changeset
from my_app_web.plugs.csrf import FORM_FIELD


@dataclass(frozen=True)
class Form:
    """A form's name (DOM ids are `<name>_<field>`), its values and its errors by field."""

    name: str
    values: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_changeset(
        cls, changeset: Changeset[Any], name: str, *, fields: Iterable[str], used: Iterable[str] | None = None
    ) -> Form:
        """Values from the record, overridden by the changes asked for; errors only for the `used`
        fields when given (live validation: no "can't be blank" under a field not reached yet)."""
        names = tuple(fields)
        values = {key: getattr(changeset.data, key, None) for key in names if changeset.data is not None}
        values.update({key: value for key, value in changeset.changes.items() if key in names})
        shown = set(used) if used is not None else None
        errors = {key: messages for key, messages in changeset.errors.items() if shown is None or key in shown}
        return cls(name, values, errors)

    def value(self, field_name: str) -> Any:
        value = self.values.get(field_name)
        return "" if value is None else value

    def errors_for(self, field_name: str) -> list[str]:
        return list(self.errors.get(field_name, ()))

    def id_for(self, field_name: str) -> str:
        return f"{self.name}_{field_name}"

    @property
    def valid(self) -> bool:
        return not self.errors


async def form_params(request: Request) -> dict[str, str]:
    """The posted form's text fields (the CSRF token left out); a repeated field keeps its last value."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str) and key != FORM_FIELD}


def used_fields(params: Mapping[str, str]) -> set[str]:
    """The fields someone has typed in (a live-validation request posts them all, empty or not)."""
    return {key for key, value in params.items() if value.strip()}


def is_htmx(request: Request) -> bool:
    """True for a request made by htmx (live validation, a fragment), False for a plain form post."""
    return request.headers.get("hx-request") == "true"


def hx_target(request: Request) -> str | None:
    """The id of the element an htmx request will swap (`HX-Target`), or None for a plain request."""
    return request.headers.get("hx-target") if is_htmx(request) else None
