"""The edge's telemetry: metrics by route template and one access line per request, with the
request's fields on every line logged meanwhile."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import structlog
from fastapi import FastAPI

from my_app import metrics
from my_app.config import Settings
from my_app_web.endpoint import create_app
from my_app_web.plugs.auth import CurrentSession
from tests.support.browser_forms import log_in
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import user_fixture
from tests.support.fixtures.api import auth_for
from tests.support.fixtures.catalog import product_fixture
from tests.support.live_case import live_stream
from tests.support.log_capture import AppLog, app_log_fixture  # noqa: F401 - fixture


async def log_two_lines(session: CurrentSession) -> dict[str, bool]:
    logging.getLogger("my_app.test").info("logged by the route")
    structlog.get_logger("my_app.test").info("logged by the route through structlog")
    return {"signed_in": session is not None}


@pytest.fixture(scope="module")
def app_that_logs(settings: Settings) -> FastAPI:
    app = create_app(settings, start_application=False)
    app.add_api_route("/api/test/log-line", log_two_lines, methods=["GET"])
    return app


def requests_counted(method: str, route: str, status: int) -> float:
    value = metrics.registry.get_sample_value(
        "http_requests_total", {"method": method, "route": route, "status": str(status)}
    )
    return value or 0.0


def durations_counted(method: str, route: str) -> float:
    value = metrics.registry.get_sample_value("http_request_duration_seconds_count", {"method": method, "route": route})
    return value or 0.0


async def test_requests_are_counted_by_route_template_not_by_path(client: httpx.AsyncClient) -> None:
    product = await product_fixture()
    before = requests_counted("GET", "/api/products/{id}", 200)
    timed_before = durations_counted("GET", "/api/products/{id}")

    for _ in range(3):
        assert (await client.get(f"/api/products/{product.id}")).status_code == 200

    assert requests_counted("GET", "/api/products/{id}", 200) == before + 3
    assert durations_counted("GET", "/api/products/{id}") == timed_before + 3
    assert (
        metrics.registry.get_sample_value(
            "http_requests_total", {"method": "GET", "route": f"/api/products/{product.id}", "status": "200"}
        )
        is None
    )


async def test_unmatched_paths_share_one_series_and_static_files_are_one_route(client: httpx.AsyncClient) -> None:
    unmatched = requests_counted("GET", "unmatched", 404)
    static = requests_counted("GET", "/static", 404)

    for path in ("/wp-admin.php", "/.env", "/no/such/page"):
        assert (await client.get(path)).status_code == 404
    assert (await client.get("/static/no-such-file.css")).status_code == 404

    assert requests_counted("GET", "unmatched", 404) == unmatched + 3
    assert requests_counted("GET", "/static", 404) == static + 1


async def test_an_unusual_method_is_counted_as_other(client: httpx.AsyncClient) -> None:
    before = requests_counted("OTHER", "/health", 405)

    assert (await client.request("BREW", "/health")).status_code == 405

    assert requests_counted("OTHER", "/health", 405) == before + 1


async def test_each_request_writes_one_access_line_with_its_fields(client: httpx.AsyncClient, app_log: AppLog) -> None:
    response = await client.get("/health?token=SECRET-TOKEN&verbose=1")

    [line] = app_log.access_lines()
    assert line["event"] == "request"
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["route"] == "/health"
    assert line["path"] == "/health?token=[FILTERED]&verbose=1"
    assert line["status"] == 200
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["user_id"] is None
    assert line["client"] == "127.0.0.1"
    assert 0 <= line["duration_ms"] < 5000
    assert line["timestamp"].endswith("Z")
    assert "SECRET-TOKEN" not in app_log.text()


async def test_the_access_line_names_the_api_token_s_user(client: httpx.AsyncClient, app_log: AppLog) -> None:
    user = await user_fixture(name="Token Holder")

    assert (await client.get("/api/users/me", headers=await auth_for(user))).status_code == 200

    [line] = app_log.access_lines()
    assert line["route"] == "/api/users/me"
    assert line["user_id"] == str(user.id)


async def test_every_line_logged_during_a_request_carries_its_fields(
    app_that_logs: FastAPI, db: object, app_log: AppLog
) -> None:
    user = await user_fixture(name="Session Holder")
    async with client_for(app_that_logs) as client:
        assert (await log_in(client, user.email)).status_code == 303
        app_log.clear()
        logging.getLogger("my_app.test").info("before the request")  # no request: no request fields
        response = await client.get("/api/test/log-line")

    lines = app_log.lines()
    outside = next(line for line in lines if line["event"] == "before the request")
    assert "request_id" not in outside
    inside = [line for line in lines if line["event"].startswith("logged by the route")]
    assert len(inside) == 2  # the stdlib line and the structlog line
    for line in inside:
        assert line["request_id"] == response.headers["x-request-id"]
        assert line["method"] == "GET"
        assert line["route"] == "/api/test/log-line"
        assert line["user_id"] == str(user.id)
    [access] = app_log.access_lines()
    assert access["user_id"] == str(user.id)


async def test_the_request_id_header_is_set_once(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"x-request-id": "from-the-load-balancer_0123456789"})

    assert response.headers.get_list("x-request-id") == ["from-the-load-balancer_0123456789"]


async def test_a_live_page_s_stream_is_logged_once_it_has_sent_its_first_event(
    web_app: FastAPI, client: httpx.AsyncClient, app_log: AppLog
) -> None:
    before = requests_counted("GET", "/products", 200)

    async with live_stream(web_app, client, "/products") as stream:
        await stream.next_event()
        await asyncio.sleep(0.05)  # the endpoint holds the stream now: the edges have returned
        [line] = [line for line in app_log.access_lines() if line["route"] == "/products"]
        assert line["status"] == 200
        assert requests_counted("GET", "/products", 200) == before + 1

    # Closing the page adds nothing: the request was counted once, its latency to the first event.
    assert requests_counted("GET", "/products", 200) == before + 1
    assert len([line for line in app_log.access_lines() if line["route"] == "/products"]) == 1
