"""A server starts without loading or analysing what it does not use (issue 15: start-up time).

A fresh interpreter creates the app, starts it (the core included) and asks `/ready`, then reports
the modules it loaded and how many times FastAPI analysed a route. Module lists and counts are
deterministic where a timing would not be.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.support.processes import PROJECT_ROOT, child_env

# What the server imports only when its settings use it, and what each costs at start-up.
DEFERRED = (
    "httpx",  # ~150 ms: the mailer's HTTP API adapter only (prod sends over SMTP by default)
    "cashews",  # ~20 ms, and redis-py with it: a cache that is on (CACHE_URL, REDIS_URL, or mem:// outside prod)
    "redis",  # ~100 ms with the OpenTelemetry metrics SDK it imports: REDIS_URL only
    "opentelemetry.sdk",  # an exporter (OTEL_EXPORTER_OTLP_ENDPOINT) only
    "my_app_web.controllers.mailbox_preview",  # the dev mailbox's pages: dev only
)

_START_AND_REPORT = textwrap.dedent(
    """
    import asyncio, json, sys

    import fastapi.routing

    analyses = 0
    populate = fastapi.routing._populate_api_route_state

    def counting(*args, **kwargs):
        global analyses
        analyses += 1
        return populate(*args, **kwargs)

    fastapi.routing._populate_api_route_state = counting

    async def ready_status(app):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/ready", "raw_path": b"/ready", "root_path": "", "query_string": b"",
            "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 4000), "server": ("localhost", 4000),
        }
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
        return sent[0]["status"]

    from my_app_web.endpoint import create_app

    app = create_app()
    status = asyncio.run(ready_status(app))
    routes = sum(isinstance(route, fastapi.routing.APIRoute) for route in app.router.routes)
    print(json.dumps({"status": status, "analyses": analyses, "routes": routes, "modules": sorted(sys.modules)}))
    """
)


def start_and_report(**env: str | None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _START_AND_REPORT],
        cwd=PROJECT_ROOT,
        env=child_env({"JOBS_IN_SERVER": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": None, **env}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def loaded(report: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    modules = report["modules"]
    return sorted(name for name in names if any(m == name or m.startswith(f"{name}.") for m in modules))


@pytest.fixture(scope="module")
def plain_server() -> dict[str, Any]:
    """A server as prod runs one without Redis: no cache, SMTP, no exporter."""
    return start_and_report(CACHE_URL="off", REDIS_URL=None, MAILER_ADAPTER="smtp")


def test_a_server_without_redis_a_cache_or_an_exporter_loads_none_of_them(plain_server: dict[str, Any]) -> None:
    assert plain_server["status"] == 200
    assert loaded(plain_server, DEFERRED) == []


def test_a_cache_that_is_on_loads_its_backend() -> None:
    report = start_and_report(CACHE_URL="mem://", REDIS_URL=None)

    assert report["status"] == 200
    assert loaded(report, ("cashews",)) == ["cashews"]


def test_each_route_is_analysed_about_twice_at_start_up(plain_server: dict[str, Any]) -> None:
    # Once where its controller declares it, once as the app's route (a live package's pages once
    # more, an admin page twice). A tree of `include_router`s analysed each 4.6 times (590 for 129).
    assert plain_server["routes"] > 100
    assert plain_server["analyses"] <= 3 * plain_server["routes"]
