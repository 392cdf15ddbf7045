"""Field types of the API's request bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, JsonValue

from my_app import field_types


def _storable(value: str) -> str:
    # JSON may carry "\u0000" and lone surrogates ("\ud800"); PostgreSQL text, JSONB and UTF-8
    # cannot hold them, so they would fail deep in the database: refuse them as a bad request.
    if not field_types.storable_text(value):
        raise ValueError("text must be valid Unicode without NUL characters")
    return value


Text = Annotated[str, AfterValidator(_storable)]


def _storable_json(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    # What JSONB cannot hold (NUL, lone surrogates, NaN, integers beyond 64 bits) or nests too deep
    # would fail deep in the database or cost too much: a bad request instead.
    problem = field_types.json_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


JSONObject = Annotated[dict[str, JsonValue], AfterValidator(_storable_json)]
