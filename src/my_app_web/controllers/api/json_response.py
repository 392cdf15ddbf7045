"""A JSON body built once: plain dicts dumped by orjson, for the API's hot reads.

A route that returns a pydantic model has it validated again and serialized by FastAPI: for a
page of 20 products that is most of the rendering cost. Routes that return `JSONBody` keep their
`response_model` for the OpenAPI document only (FastAPI sends a returned Response as it is), and
their views build the same fields as plain dicts. `OPT_UTC_Z` writes UTC times as pydantic does
(`2026-12-01T10:00:00Z`), so the JSON is byte-for-byte what the models gave.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

from my_app.pagination import Page

OPTIONS = orjson.OPT_UTC_Z


class JSONBody(JSONResponse):
    """`JSONBody({"data": ...}, status_code=201, headers={"location": ...})`."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=OPTIONS)


def page_body(page: Page[Any], data: list[dict[str, Any]]) -> JSONBody:
    """A page of a list, as every list answers: `{"data": [...], "meta": {"limit", "next_cursor"}}`
    (`ListMeta`); `data` is the page's items, rendered by the view."""
    return JSONBody({"data": data, "meta": {"limit": page.limit, "next_cursor": page.next_cursor}})
