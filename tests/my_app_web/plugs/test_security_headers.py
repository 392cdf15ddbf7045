"""Security headers on every response (pages, JSON, errors, static files), a CSP on pages, HSTS in prod."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from my_app.config import Settings
from my_app_web.endpoint import create_app
from my_app_web.plugs.security_headers import SecurityHeadersMiddleware
from my_app_web.templating import TEMPLATES_PATH
from tests.support.conn_case import client_for

BROWSER = {"accept": "text/html"}
PAGE_POLICY = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
EVERY_RESPONSE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}


def crash() -> None:
    raise RuntimeError("boom")


async def crash_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not called")


def app_for(settings: Settings) -> FastAPI:
    app = create_app(settings, start_application=False)
    app.add_api_route("/api/test/crash", crash, methods=["GET"])
    app.add_api_route("/test/crash", crash, methods=["GET"])
    return app


@pytest.fixture(scope="module")
def test_app(settings: Settings) -> FastAPI:
    return app_for(settings)


@pytest.fixture
async def http(test_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(test_app) as client:
        yield client


def assert_secure(response: httpx.Response) -> None:
    for name, value in EVERY_RESPONSE.items():
        assert response.headers.get_list(name) == [value], name


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/health", {}, 200),
        ("GET", "/api/nothing-here", {}, 404),
        ("POST", "/health", {}, 405),
        ("GET", "/api/users/me", {}, 401),
        ("GET", "/api/test/crash", {}, 500),  # answered by Starlette's error handler, outside our middleware
        ("GET", "/static/app.css", {}, 200),
        ("GET", "/", BROWSER, 200),
        ("GET", "/no-such-page", BROWSER, 404),
        ("GET", "/test/crash", BROWSER, 500),
    ],
)
async def test_every_response_carries_the_security_headers(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = await http.request(method, path, headers=headers)

    assert response.status_code == status
    assert_secure(response)
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(("path", "status"), [("/", 200), ("/no-such-page", 404), ("/test/crash", 500)])
async def test_pages_get_the_content_security_policy(http: httpx.AsyncClient, path: str, status: int) -> None:
    response = await http.get(path, headers=BROWSER)

    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers.get_list("content-security-policy") == [PAGE_POLICY]


async def test_json_answers_get_no_page_policy(http: httpx.AsyncClient) -> None:
    response = await http.get("/health")

    assert "content-security-policy" not in response.headers


async def test_hsts_is_sent_in_prod_only(http: httpx.AsyncClient, settings: Settings) -> None:
    assert "strict-transport-security" not in (await http.get("/health")).headers

    async with client_for(app_for(settings.model_copy(update={"env": "prod"}))) as prod:
        for response in [await prod.get("/health"), await prod.get("/", headers=BROWSER), await prod.get("/api/x")]:
            assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
            assert_secure(response)


def test_a_header_the_route_set_itself_is_kept() -> None:
    middleware = SecurityHeadersMiddleware(crash_app, hsts=False)

    headers = middleware.with_headers(
        [(b"content-type", b"text/html"), (b"x-frame-options", b"SAMEORIGIN"), (b"content-security-policy", b"x")]
    )

    assert headers.count((b"x-frame-options", b"SAMEORIGIN")) == 1
    assert [name for name, _ in headers].count(b"x-frame-options") == 1
    assert [value for name, value in headers if name == b"content-security-policy"] == [b"x"]
    assert (b"x-content-type-options", b"nosniff") in headers


# --- pages work under the policy: nothing inline ---

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),  # an inline script
    re.compile(r"<style\b", re.IGNORECASE),  # an inline stylesheet
    re.compile(r"\sstyle\s*=", re.IGNORECASE),  # a style attribute
    re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),  # an event handler attribute
    re.compile(r"javascript:", re.IGNORECASE),
    re.compile(r"(src|href)=\"(https?:)?//", re.IGNORECASE),  # a resource from another origin
]


TEMPLATES = sorted(path.relative_to(TEMPLATES_PATH).as_posix() for path in TEMPLATES_PATH.rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES)
def test_no_template_relies_on_what_the_page_policy_blocks(template: str) -> None:
    source = (TEMPLATES_PATH / template).read_text()

    for pattern in INLINE:
        assert not pattern.search(source), f"{template}: {pattern.pattern}"


# --- /api/docs: its own policy, and off in prod unless API_DOCS=true ---


async def test_the_docs_page_allows_its_cdn_and_exactly_its_inline_script(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/docs")

    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert response.headers.get_list("content-security-policy") == [policy]
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    directives = dict(directive.strip().split(" ", 1) for directive in policy.split(";"))
    assert directives["script-src"] == f"'self' https://cdn.jsdelivr.net 'sha256-{digest}'"
    assert "unsafe-inline" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert_secure(response)


async def test_the_docs_oauth2_redirect_page_allows_its_inline_script(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/docs/oauth2-redirect")

    assert response.status_code == 200
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert scripts
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(("api_docs", "status"), [(False, 404), (True, 200)])
async def test_api_docs_are_served_only_when_api_docs_is_on(settings: Settings, api_docs: bool, status: int) -> None:
    app = app_for(settings.model_copy(update={"env": "prod", "api_docs": api_docs}))

    async with client_for(app) as client:
        docs = await client.get("/api/docs")
        document = await client.get("/api/openapi.json")
        home = await client.get("/", headers=BROWSER)

    assert (docs.status_code, document.status_code) == (status, status)
    assert ('href="/api/docs"' in home.text) is api_docs  # no link to a page that is not there
