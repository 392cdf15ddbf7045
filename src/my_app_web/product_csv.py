"""How products look in the CSV export (ProductCSV), for the API and the admin page: a header row,
then one row per product.

Quoting is the csv module's (RFC 4180: a field with a comma, a quote or a line break is quoted,
quotes doubled; lines end in CRLF). `price` is a decimal string with two places, as in the JSON,
the category is its slug, times are ISO 8601 with their offset. Rows are encoded in chunks of
`CHUNK_ROWS`, so the response sends a few large writes instead of one per product.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from my_app.catalog import Product

HEADER = ("id", "name", "sku", "category", "price", "stock", "inserted_at", "updated_at")
CHUNK_ROWS = 500
FILENAME = "products.csv"
EXAMPLE = (
    "id,name,sku,category,price,stock,inserted_at,updated_at\r\n"
    '0c1d8a4e-9b5f-4b8e-8f62-3d1f2a7c9e10,"Green tea, loose",TEA-GREEN-100,tea,4.50,12,'
    "2026-12-01T10:00:00+00:00,2026-12-01T10:00:00+00:00\r\n"
)


class CSVResponse(StreamingResponse):
    """A streamed CSV body (`text/csv; charset=utf-8`: Starlette adds the charset to text types)."""

    media_type = "text/csv"


def download(products: AsyncIterator[Product]) -> CSVResponse:
    """The export as a download (`products.csv`), streamed; the API's route and the admin page's use it."""
    return CSVResponse(
        render(products),
        headers={"content-disposition": f'attachment; filename="{FILENAME}"', "cache-control": "no-store"},
    )


def row(product: Product) -> tuple[str | int, ...]:
    return (
        str(product.id),
        product.name,
        product.sku,
        product.category.slug,
        format(product.price, ".2f"),
        product.stock,
        product.inserted_at.isoformat(),
        product.updated_at.isoformat(),
    )


async def render(products: AsyncIterator[Product], *, chunk_rows: int = CHUNK_ROWS) -> AsyncIterator[bytes]:
    """The export's bytes: the header at once (the download starts before the first row is read),
    then every `chunk_rows` products."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    yield _drain(buffer)
    pending = 0
    async for product in products:
        writer.writerow(row(product))
        pending += 1
        if pending == chunk_rows:
            yield _drain(buffer)
            pending = 0
    if pending:
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    chunk = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return chunk
