"""The API's interactive documentation: FastAPI's Swagger UI at /api/docs, under a CSP of its own.

On when API_DOCS is (the default in dev and test; off in prod unless API_DOCS=true). Swagger UI
loads its script and stylesheet from cdn.jsdelivr.net and starts with an inline script, which the
pages' policy (`default-src 'self'`) refuses. Its page gets `DOCS_POLICY` instead: the CDN for
scripts and styles, the inline script by its SHA-256 hash only (no `'unsafe-inline'` for scripts),
inline styles (Swagger UI sets some), images from data: URLs and FastAPI's favicon host.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from my_app.config import Settings

OPENAPI_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
OAUTH2_REDIRECT_PATH = "/api/docs/oauth2-redirect"
CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' " + CDN + " {hashes}; style-src 'self' " + CDN + " 'unsafe-inline'; "
    "img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_options(settings: Settings) -> dict[str, str | None]:
    """FastAPI's options for the OpenAPI document: served only when API_DOCS is on; the pages are ours."""
    return {
        "openapi_url": OPENAPI_PATH if settings.api_docs else None,
        "docs_url": None,
        "redoc_url": None,
        "swagger_ui_oauth2_redirect_url": OAUTH2_REDIRECT_PATH,
    }


def mount_api_docs(app: FastAPI, settings: Settings) -> None:
    """Add /api/docs (and its OAuth2 redirect page) when API_DOCS is on; a no-op otherwise.

    Examples:
        mount_api_docs(app, settings)   # GET /api/docs -> 200 Swagger UI (dev, test, API_DOCS=true)
                                        # GET /api/docs -> 404 (prod by default)
    """
    if not (settings.api_docs and app.openapi_url):
        return
    openapi_url = app.openapi_url

    async def swagger_ui(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "").rstrip("/")
        return with_script_hashes(
            get_swagger_ui_html(
                openapi_url=root_path + openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=root_path + OAUTH2_REDIRECT_PATH,
                init_oauth=app.swagger_ui_init_oauth,
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return with_script_hashes(get_swagger_ui_oauth2_redirect_html())

    app.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_PATH, oauth2_redirect, include_in_schema=False)


def with_script_hashes(response: HTMLResponse) -> HTMLResponse:
    """`response` with `DOCS_POLICY`, allowing exactly the inline scripts its body holds."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(response.body))
    )
    response.headers["content-security-policy"] = DOCS_POLICY.format(hashes=hashes)
    return response
