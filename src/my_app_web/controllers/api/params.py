"""Field types of the API's request bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _storable(value: str) -> str:
    # JSON may carry "\u0000" and lone surrogates ("\ud800"); PostgreSQL text, JSONB and UTF-8
    # cannot hold them, so they would fail deep in the database: refuse them as a bad request.
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]
