"""The generated input models' field types: what an API client or a form sends, and Ecto's words for the rest."""

from __future__ import annotations

import datetime
import decimal
import functools
from typing import Any, Literal

import pytest

from my_app import field_types
from my_app.changeset import Input, cast, update_changes
from my_app.errors import ValidationError
from my_app.field_types import (
    INT32_MAX,
    INT32_MIN,
    Boolean,
    Date,
    Decimal,
    Float,
    Integer,
    JSONMap,
    Lines,
    String,
    Text,
    Time,
    UtcDatetime,
)

UTC = datetime.UTC


class Everything(Input):
    name: String | None = None
    notes: Text | None = None
    count: Integer | None = None
    weight: Float | None = None
    price: Decimal | None = None
    active: Boolean = False
    released_on: Date | None = None
    opens_at: Time | None = None
    launched_at: UtcDatetime | None = None
    specs: JSONMap | None = None
    tags: Lines[String] | None = None
    sizes: Lines[Integer] | None = None
    prices: Lines[Decimal] | None = None
    days: Lines[Date] | None = None
    status: Literal["draft", "published"] | None = None


def cast_one(field: str, value: Any) -> Any:
    return getattr(cast(Everything, {field: value}), field)


def errors_of(field: str, value: Any) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        cast(Everything, {field: value})
    return raised.value.errors[field]


@pytest.mark.parametrize(
    ("field", "sent", "cast_to"),
    [
        ("name", "  Lamp ", "Lamp"),
        ("count", 12, 12),
        ("count", "12", 12),  # a form's number input
        ("count", INT32_MIN, INT32_MIN),
        ("weight", 1.5, 1.5),
        ("weight", "1.5", 1.5),
        ("weight", 2, 2.0),
        ("price", "120.50", decimal.Decimal("120.50")),  # the digits as given: never through a float
        ("price", 3, decimal.Decimal(3)),
        ("active", True, True),
        ("active", "true", True),  # a checkbox
        ("active", "false", False),  # its hidden input
        ("released_on", "2026-12-01", datetime.date(2026, 12, 1)),
        ("opens_at", "10:00", datetime.time(10)),  # a time input without seconds
        ("opens_at", "10:00:05.250", datetime.time(10, 0, 5)),  # Ecto's `:time`: to the second
        ("launched_at", "2026-12-01T10:00:00Z", datetime.datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("launched_at", "2026-12-01T11:00:00+01:00", datetime.datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("launched_at", "2026-12-01T10:00", datetime.datetime(2026, 12, 1, 10, tzinfo=UTC)),  # datetime-local: UTC
        ("launched_at", datetime.datetime(2026, 12, 1, 10, 0, 0, 999), datetime.datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("specs", {"size": "large", "n": [1, 2]}, {"size": "large", "n": [1, 2]}),
        ("specs", '{"size": "large"}', {"size": "large"}),  # a textarea holding JSON
        ("specs", {}, {}),
        ("tags", ["a", "b"], ["a", "b"]),
        ("tags", "red\n\n  blue \r\ngreen\n", ["red", "blue", "green"]),  # a textarea: one per line
        ("tags", [], []),
        ("sizes", "1\n2", [1, 2]),
        ("sizes", [3, "4"], [3, 4]),
        ("prices", "1.50\n2", [decimal.Decimal("1.50"), decimal.Decimal(2)]),
        ("days", ["2026-12-01"], [datetime.date(2026, 12, 1)]),
        ("status", "draft", "draft"),
    ],
)
def test_casts_what_clients_and_forms_send(field: str, sent: Any, cast_to: Any) -> None:
    assert cast_one(field, sent) == cast_to


@pytest.mark.parametrize(
    ("field", "sent"),
    [
        ("name", 12),
        ("notes", 12),
        ("count", "twelve"),
        ("count", "1.5"),
        ("count", 1.5),
        ("count", True),  # an int to Python, not a number to Ecto
        ("count", [1]),
        ("weight", "nan"),
        ("weight", "inf"),
        ("weight", float("-inf")),
        ("weight", False),
        ("weight", "heavy"),
        ("price", "NaN"),
        ("price", "Infinity"),
        ("price", "12,50"),
        ("price", True),
        ("price", "1e200000"),  # more digits than PostgreSQL's numeric holds
        ("price", "1e-20000"),
        ("active", "maybe"),
        ("active", [True]),
        ("released_on", "2026-13-01"),
        ("released_on", "yesterday"),
        ("released_on", 1_700_000_000),  # no epoch seconds, as Ecto
        ("opens_at", "25:00"),
        ("opens_at", 3600),
        ("launched_at", "tomorrow"),
        ("launched_at", 1_700_000_000),
        ("launched_at", "0001-01-01T00:00:00+01:00"),  # before the first representable UTC instant
        ("specs", "[1, 2]"),  # JSON, but not an object
        ("specs", "{not json"),
        ("specs", [["a", 1]]),
        ("specs", {"a": "\x00"}),  # PostgreSQL's jsonb holds no NUL
        ("tags", 5),
        ("tags", {"a": 1}),
        ("tags", [1]),
        ("tags", ["fine", "\x00"]),
        ("sizes", ["x"]),
        ("sizes", "1\ntwo"),
        ("days", ["someday"]),
        ("status", "archived"),
    ],
)
def test_anything_else_is_invalid(field: str, sent: Any) -> None:
    assert errors_of(field, sent) == ["is invalid"]


def test_integers_fit_a_32_bit_column() -> None:
    assert cast_one("count", INT32_MAX) == INT32_MAX
    assert errors_of("count", INT32_MAX + 1) == [f"must be less than or equal to {INT32_MAX}"]
    assert errors_of("count", INT32_MIN - 1) == [f"must be greater than or equal to {INT32_MIN}"]
    assert errors_of("sizes", [1, INT32_MAX + 1]) == [f"must be less than or equal to {INT32_MAX}"]


def test_strings_and_their_lists_are_at_most_255_characters() -> None:
    assert cast_one("name", "x" * 255) == "x" * 255
    assert errors_of("name", "x" * 256) == ["should be at most 255 character(s)"]
    assert errors_of("tags", ["ok", "x" * 256]) == ["should be at most 255 character(s)"]


def test_blank_text_is_missing_whatever_the_type() -> None:
    """A form's empty input: `cast` drops it (the default applies), an update says "can't be blank"."""
    assert cast(Everything, {"count": "", "tags": "  ", "specs": " "}) == Everything()
    with pytest.raises(ValidationError) as raised:
        update_changes(Everything, {"count": "", "tags": "", "launched_at": ""})
    assert raised.value.errors == {
        "count": ["can't be blank"],
        "tags": ["can't be blank"],
        "launched_at": ["can't be blank"],
    }


def test_the_annotated_types_keep_their_python_types() -> None:
    model = cast(
        Everything,
        {"count": "1", "price": "1.10", "launched_at": "2026-12-01T10:00:00Z", "specs": "{}", "tags": "a"},
    )
    assert isinstance(model.count, int)
    assert isinstance(model.price, decimal.Decimal)
    assert model.launched_at is not None
    assert model.launched_at.tzinfo is UTC
    assert model.specs == {}
    assert model.tags == ["a"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"size": ["large", 1.5, 2**62], "ok": True}, None),
        ({"a": float("nan")}, "numbers must be finite"),
        ({"a": [2**64]}, "integers must fit in 64 bits"),
        ({"a\x00": 1}, "text must be valid Unicode without NUL characters"),
        ({"a": "\ud800"}, "text must be valid Unicode without NUL characters"),
        (functools.reduce(lambda inner, _: {"a": inner}, range(40), {}), "may nest at most 32 levels deep"),
    ],
)
def test_json_problem_names_what_jsonb_cannot_store(value: object, problem: str | None) -> None:
    assert field_types.json_problem(value) == problem
