"""Validate input with a Pydantic model per intent and report errors in Ecto's words.

`cast(UserRegistration, attrs)` returns the model or raises `ValidationError({field: [messages]})`
with Ecto's messages ("can't be blank", "should be at least 12 character(s)"), so API clients get
the same 422 bodies a Phoenix app sends.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pydantic

from my_app import field_types
from my_app.errors import ValidationError

M = TypeVar("M", bound=pydantic.BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class Changeset(Generic[T]):
    """A record, the changes asked for and what is wrong with them: feeds forms, writes nothing."""

    data: T
    changes: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


def change(model: type[pydantic.BaseModel], data: T, attrs: Mapping[str, Any]) -> Changeset[T]:
    """Validate `attrs` against `model` for `data` without raising (Ecto's `change_*`)."""
    try:
        validated = cast(model, attrs)
    except ValidationError as exc:
        return Changeset(data=data, changes=dict(attrs), errors=exc.errors)
    return Changeset(data=data, changes=validated.model_dump(exclude_unset=True))


class Input(pydantic.BaseModel):
    """Base of every input model: trims strings, ignores fields it does not cast (Ecto's `cast`)."""

    model_config = pydantic.ConfigDict(str_strip_whitespace=True, extra="ignore")

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded: refuse them here,
        # so that no caller (API, form, CLI) can turn them into a database error.
        if isinstance(value, str) and not field_types.storable_text(value):
            raise ValueError("is invalid")
        return value


def cast(model: type[M], attrs: Mapping[str, Any]) -> M:
    """`model` validated from `attrs` (blank strings count as missing), or ValidationError."""
    cleaned = {key: (None if isinstance(value, str) and not value.strip() else value) for key, value in attrs.items()}
    cleaned = {key: value for key, value in cleaned.items() if value is not None}
    try:
        return model.model_validate(cleaned)
    except pydantic.ValidationError as exc:
        raise ValidationError(ecto_errors(exc)) from None


def update_changes(model: type[Input], attrs: Mapping[str, Any], *, optional: Collection[str] = ()) -> dict[str, Any]:
    """The changes an update asks for, or ValidationError. A field of `model` that `attrs` names but
    leaves blank is "can't be blank" (Ecto's `validate_required` on the record: `""` is no way to skip
    a field), unless it is `optional`, which a blank value clears (the change sets it to None).

    Examples:
        update_changes(PostUpdate, {"title": "New"})                                 # {"title": "New"}
        update_changes(PostUpdate, {"title": ""})                  # ValidationError({"title": ["can't be blank"]})
        update_changes(PostUpdate, {"published_at": None}, optional={"published_at"})  # {"published_at": None}
    """
    blank = {key for key in model.model_fields if key in attrs and _is_blank(attrs[key])}
    errors = {key: ["can't be blank"] for key in blank.difference(optional)}
    try:
        changes = cast(model, attrs).model_dump(exclude_unset=True, exclude_none=True)
    except ValidationError as exc:
        raise ValidationError(errors | exc.errors) from None
    if errors:
        raise ValidationError(errors)
    return changes | dict.fromkeys(blank.intersection(optional))


def _is_blank(value: Any) -> bool:
    """None, or a string of nothing but whitespace (what a form sends for a field left empty)."""
    return value is None or (isinstance(value, str) and not value.strip())


def ecto_errors(exc: pydantic.ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "base"
        errors.setdefault(field, []).append(_message(error))
    return errors


def _message(error: Any) -> str:
    kind, context = error["type"], error.get("ctx", {})
    if kind == "missing":
        return "can't be blank"
    if kind == "string_too_short":
        return f"should be at least {context['min_length']} character(s)"
    if kind == "string_too_long":
        return f"should be at most {context['max_length']} character(s)"
    if kind == "value_error":
        return str(context.get("error", error["msg"]))
    if kind in {"string_type", "int_type", "bool_type", "uuid_type", "uuid_parsing", "enum", "literal_error"}:
        return "is invalid"
    return str(error["msg"])
