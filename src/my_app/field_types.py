"""Field types for input models: they cast as Ecto's types do, and fail in Ecto's words.

The input models `myapp gen schema` writes annotate their fields with these (hand-written ones may
too). Each takes what an API client sends (JSON values) and what a form sends (text), and refuses
anything else with "is invalid", which `changeset.cast` reports on the field:

- `String`: text of at most 255 characters (a `varchar(255)` column); `Text`: text of any length;
- `Integer`: an integer the `integer` column holds ("12" from a form too; never `true`);
- `Float`, `Decimal`: numbers, never NaN or infinity; a decimal keeps the digits it was
  given ("120.50" stays `Decimal("120.50")`, never a float's approximation);
- `Boolean`, `Date`, `Time`: as pydantic reads them ("true", "2026-12-01", "10:00"), but "is invalid"
  instead of pydantic's sentence, and no number as a date or time; a time to the second;
- `UtcDatetime`: an aware datetime in UTC, to the second (Ecto's `:utc_datetime`); a naive one, as
  an HTML `datetime-local` input sends ("2026-12-01T10:00"), is taken as UTC;
- `JSONMap`: a JSON object: a dict, or the text of one (a form's textarea);
- `Lines[T]`: a list of T, or text with one item per line (trimmed; blank lines dropped).

Examples:
    class GadgetInput(Input):
        count: Integer
        tags: Lines[String]

    cast(GadgetInput, {"count": "12", "tags": "red\\n\\nblue"})       # count=12, tags=["red", "blue"]
    cast(GadgetInput, {"count": 2**31, "tags": ["red"]})
    # ValidationError({"count": ["must be less than or equal to 2147483647"]})
    cast(GadgetInput, {"count": True, "tags": 5})  # ValidationError({"count": ["is invalid"], "tags": ["is invalid"]})
"""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Annotated, Any, TypeVar

import orjson
import pydantic
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

T = TypeVar("T")

STRING_MAX_LENGTH = 255
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# PostgreSQL's `numeric` holds up to 131072 digits before the point and 16383 after it.
_NUMERIC_MAX_ADJUSTED = 131071
_NUMERIC_MAX_SCALE = 16383


def _invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The underlying type's cast; any failure is Ecto's "is invalid" rather than pydantic's sentence."""
    try:
        return handler(value)
    except pydantic.ValidationError:
        raise ValueError("is invalid") from None


def _number(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # `True` is an int to Python, never a number to Ecto (nor to a JSON client).
    if isinstance(value, bool):
        raise ValueError("is invalid")
    return _invalid(value, handler)


def _temporal(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # Pydantic reads a number as seconds since the epoch (or midnight); to Ecto it is no date or time.
    if isinstance(value, int | float):
        raise ValueError("is invalid")
    return _invalid(value, handler)


def _int32(value: int) -> int:
    if value < INT32_MIN:
        raise ValueError(f"must be greater than or equal to {INT32_MIN}")
    if value > INT32_MAX:
        raise ValueError(f"must be less than or equal to {INT32_MAX}")
    return value


def _finite_float(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("is invalid")
    return value


def _finite_decimal(value: decimal.Decimal) -> decimal.Decimal:
    exponent = value.as_tuple().exponent
    if not value.is_finite() or not isinstance(exponent, int):
        raise ValueError("is invalid")
    # Beyond what `numeric` stores, PostgreSQL would refuse the row: refuse the value instead.
    if value.adjusted() > _NUMERIC_MAX_ADJUSTED or -exponent > _NUMERIC_MAX_SCALE:
        raise ValueError("is invalid")
    return value


def _to_the_second(value: Any) -> Any:
    return value.replace(microsecond=0)


def _utc_datetime(value: Any) -> datetime.datetime:
    """Ecto's `:utc_datetime` cast: an ISO 8601 string or a datetime; a naive one is taken as UTC."""
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("is invalid") from None
    else:
        raise ValueError("is invalid")
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)
    try:
        return aware.astimezone(datetime.UTC).replace(microsecond=0)
    except OverflowError:  # "0001-01-01T00:00:00+01:00" is before the first UTC instant Python has
        raise ValueError("is invalid") from None


JSON_MAX_DEPTH = 32
_INT64 = range(-(2**63), 2**63)


def storable_text(value: str) -> bool:
    """Can PostgreSQL store this text? Not with NUL, which `text` and JSONB refuse, nor with lone
    surrogates ("\\ud800", which JSON may carry), which UTF-8 cannot encode.

    Examples:
        storable_text("tea")       # True
        storable_text("te\\x00a")  # False
    """
    return "\x00" not in value and not any("\ud800" <= char <= "\udfff" for char in value)


def json_problem(value: Any) -> str | None:
    """What PostgreSQL's JSONB cannot store in `value` (keys included, however deep): NUL, lone
    surrogates, NaN or infinity, integers beyond 64 bits; and nesting deeper than JSON_MAX_DEPTH,
    which costs more to store and read the deeper it goes. None when it can all be stored.

    Examples:
        json_problem({"size": ["large", 1.5]})   # None
        json_problem({"a": float("nan")})        # "numbers must be finite"
    """
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list | tuple) and depth > JSON_MAX_DEPTH:
            return f"may nest at most {JSON_MAX_DEPTH} levels deep"
        if isinstance(item, dict):
            pending += [(key, depth) for key in item]
            pending += [(nested, depth + 1) for nested in item.values()]
        elif isinstance(item, list | tuple):
            pending += [(nested, depth + 1) for nested in item]
        elif isinstance(item, str) and not storable_text(item):
            return "text must be valid Unicode without NUL characters"
        elif isinstance(item, float) and not math.isfinite(item):
            return "numbers must be finite"
        elif isinstance(item, int) and not isinstance(item, bool) and item not in _INT64:
            return "integers must fit in 64 bits"
    return None


def _storable(value: Any) -> bool:
    return json_problem(value) is None


def _json_object(value: Any) -> Any:
    """A dict as it is; text parsed as JSON, which must be an object."""
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError("is invalid") from None
    if not isinstance(value, dict) or not _storable(value):
        raise ValueError("is invalid")
    return value


def _items(value: Any) -> list[Any]:
    """A list as it is; text split into one item per line, each trimmed, blank lines dropped."""
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    if isinstance(value, list | tuple) and _storable(value):
        return list(value)
    raise ValueError("is invalid")


String = Annotated[str, pydantic.Field(max_length=STRING_MAX_LENGTH)]
Text = str
Integer = Annotated[int, pydantic.WrapValidator(_number), pydantic.AfterValidator(_int32)]
Float = Annotated[float, pydantic.WrapValidator(_number), pydantic.AfterValidator(_finite_float)]
Decimal = Annotated[decimal.Decimal, pydantic.WrapValidator(_number), pydantic.AfterValidator(_finite_decimal)]
Boolean = Annotated[bool, pydantic.WrapValidator(_invalid)]
Date = Annotated[datetime.date, pydantic.WrapValidator(_temporal)]
Time = Annotated[datetime.time, pydantic.WrapValidator(_temporal), pydantic.AfterValidator(_to_the_second)]
UtcDatetime = Annotated[datetime.datetime, pydantic.BeforeValidator(_utc_datetime)]
JSONMap = Annotated[dict[str, Any], pydantic.BeforeValidator(_json_object)]
Lines = Annotated[list[T], pydantic.BeforeValidator(_items)]
