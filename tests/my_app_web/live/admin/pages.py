"""Reading the admin catalog pages from a test: a page's CSRF token, a field's error messages."""

from __future__ import annotations

import html as html_module
import re

import httpx

from tests.support.browser_forms import csrf_token_in


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    """The CSRF token of the page at `path` (the session's: any form of it will do)."""
    return csrf_token_in((await client.get(path)).text)


def errors_of(html: str, field_id: str) -> list[str]:
    """The messages in the error block of the field with this id (`product_price`), as the user reads them."""
    match = re.search(rf'<div id="{re.escape(field_id)}-error"[^>]*>(.*?)</div>', html, re.S)
    assert match is not None, f"no error block for {field_id}"
    return [html_module.unescape(text) for text in re.findall(r"<span>(.*?)</span>", match.group(1), re.S)]
