"""Tracing end to end: a request's server span (named by its route template), its SQL spans and an
outgoing httpx call reach a real OTLP/HTTP receiver; with no endpoint nothing of OpenTelemetry loads;
a collector that is down never fails or slows a request."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import pytest

from my_app import application, mailer
from my_app.config import Settings
from my_app.mailer import Email
from my_app_web.endpoint import create_app
from my_app_web.links import email_links
from tests.support.conn_case import client_for
from tests.support.fixtures.api import auth_for, committed_api_user
from tests.support.otlp import ReceivedSpan, fake_mail_api, otlp_receiver
from tests.support.processes import PROJECT_ROOT, child_env, free_port


def _traced(settings: Settings, endpoint: str) -> Settings:
    return settings.model_copy(update={"otel_exporter_otlp_endpoint": endpoint, "otel_service_name": "my_app_traced"})


def _ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[str]:
    by_id = {candidate.span_id: candidate for candidate in spans}
    chain, parent = [], by_id.get(span.parent_span_id)
    while parent is not None:
        chain.append(parent.span_id)
        parent = by_id.get(parent.parent_span_id)
    return chain


SECRET_IN_PATH, SECRET_IN_QUERY = "resettoken" + uuid.uuid4().hex, "querytoken" + uuid.uuid4().hex
UPSTREAM_TRACE_ID, UPSTREAM_SPAN_ID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
UPSTREAM_TRACEPARENT = f"00-{UPSTREAM_TRACE_ID}-{UPSTREAM_SPAN_ID}-01"


async def test_a_request_reaches_the_collector_as_a_server_span_with_its_sql_and_an_httpx_call(
    settings: Settings,
) -> None:
    product_id = uuid.uuid4()
    with otlp_receiver() as receiver, fake_mail_api() as mail_api:
        traced = _traced(settings, receiver.url)
        web = create_app(traced, start_application=False)
        async with (
            application.lifespan(traced, run_jobs=False, links=email_links(traced)),
            committed_api_user() as user,
            client_for(web) as http,
        ):
            headers = await auth_for(user)
            # An upstream's trace (a proxy, a calling service) continues here.
            me = await http.get("/api/users/me", headers={**headers, "traceparent": UPSTREAM_TRACEPARENT})
            missing = await http.get(f"/api/products/{product_id}", headers=headers)
            reset_page = await http.get(f"/users/reset-password/{SECRET_IN_PATH}?token={SECRET_IN_QUERY}")
            await mailer.ApiAdapter(url=mail_api, api_key="test-key").deliver(
                Email(to="ada@example.com", subject="Traced", text_body="Hello", from_="app@example.com")
            )
        # The app has stopped: its provider exported every queued span before shutting down.
        spans = receiver.spans

    assert me.status_code == 200
    assert missing.status_code == 404
    assert set(receiver.paths) == {"/v1/traces"}
    servers = {span.name: span for span in spans if span.kind == "server"}
    assert {"GET /api/users/me", "GET /api/products/{id}", "GET /users/reset-password/{token}"} <= servers.keys()
    assert not [span for span in spans if str(product_id) in span.name]  # the template, never the raw path
    product_span = servers["GET /api/products/{id}"]
    assert product_span.attributes["http.route"] == "/api/products/{id}"
    assert (
        product_span.attributes.get("http.response.status_code", product_span.attributes.get("http.status_code")) == 404
    )

    # Secrets a URL can carry never leave the app: the span records the route template, no query.
    reset_span = servers["GET /users/reset-password/{token}"]
    assert reset_page.status_code == 303  # an unknown token: back to the request form
    assert reset_span.attributes["http.target"] == "/users/reset-password/{token}"
    assert reset_span.attributes["http.url"] == "http://localhost:4000/users/reset-password/{token}"
    exported = repr([(span.name, span.attributes) for span in spans])
    assert SECRET_IN_PATH not in exported
    assert SECRET_IN_QUERY not in exported

    me_span = servers["GET /api/users/me"]
    assert (me_span.trace_id, me_span.parent_span_id) == (UPSTREAM_TRACE_ID, UPSTREAM_SPAN_ID)

    for server in (me_span, product_span):
        sql = [span for span in spans if span.kind == "client" and server.span_id in _ancestors(span, spans)]
        assert all(span.trace_id == server.trace_id for span in sql)
        assert sql, f"no SQL span under {server.name}"
        assert all(
            span.attributes.get("db.system", span.attributes.get("db.system.name")) == "postgresql" for span in sql
        )
        assert any(
            "SELECT" in str(span.attributes.get("db.statement", span.attributes.get("db.query.text"))) for span in sql
        )

    outgoing = [
        span
        for span in spans
        if span.kind == "client" and str(span.attributes.get("url.full", span.attributes.get("http.url"))) == mail_api
    ]
    assert len(outgoing) == 1
    assert outgoing[0].name == "POST"

    for span in spans:
        assert span.resource["service.name"] == "my_app_traced"
        assert span.resource["deployment.environment"] == "test"
        assert span.resource["service.version"]


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A collector address that accepts connections and never answers (worse than one refusing them)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


EXPORT_TIMEOUT = 1.0  # OTEL_EXPORTER_OTLP_TIMEOUT in the tests below: how long one export may try


@pytest.mark.parametrize("collector", ["refusing", "black hole"])
async def test_a_collector_that_is_down_never_fails_or_slows_a_request(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, black_hole: str, collector: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", str(EXPORT_TIMEOUT))
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")  # export while the requests run, not only at the end
    endpoint = black_hole if collector == "black hole" else f"http://127.0.0.1:{free_port()}"
    traced = _traced(settings, endpoint)
    web = create_app(traced, start_application=False)
    durations, statuses = [], []
    async with application.lifespan(traced, run_jobs=False, links=email_links(traced)):
        async with client_for(web) as http:
            for _ in range(30):
                started = time.perf_counter()
                response = await http.get(f"/api/products/{uuid.uuid4()}")
                durations.append(time.perf_counter() - started)
                statuses.append(response.status_code)
        stopping = time.perf_counter()
    stopped_in = time.perf_counter() - stopping

    assert set(statuses) == {404}  # the API's answer for a product that does not exist, every time
    # An export that waited in a request would make it last at least EXPORT_TIMEOUT.
    assert max(durations) < EXPORT_TIMEOUT / 2, durations
    # Stopping exports what is queued, bounded by the export timeout, then gives up.
    assert stopped_in < 4 * EXPORT_TIMEOUT + 2


# Two of our dependencies import OpenTelemetry themselves, whatever we do: FastAPI its API (native
# telemetry, off while no provider is set), and redis-py (imported by cashews) `opentelemetry.sdk.metrics`
# when the SDK is installed. The script first imports them and starts and queries a bare FastAPI app,
# then creates, starts and queries ours, and reports what ours loaded on top.
OPENTELEMETRY_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, uuid
    import cashews, httpx
    from fastapi import FastAPI

    def loaded():
        return {name for name in sys.modules if name.startswith("opentelemetry")}

    async def serve(app, paths):
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost:4000") as http:
                return [(await http.get(path)).status_code for path in paths]

    async def main():
        bare = FastAPI()
        bare.get("/")(lambda: {})
        await serve(bare, ["/"])
        by_dependencies = loaded()
        from my_app_web.endpoint import create_app

        statuses = await serve(
            create_app(), ["/health", "/ready", "/api/users/me", f"/api/products/{uuid.uuid4()}", "/users/log-in"]
        )
        print(json.dumps({"statuses": statuses, "added": sorted(loaded() - by_dependencies), "all": sorted(loaded())}))

    asyncio.run(main())
    """
)


def _run_app_in_a_fresh_process(endpoint: str | None) -> dict[str, list[object]]:
    """Create, start and query the whole app in a new interpreter: what it loaded of OpenTelemetry."""
    result = subprocess.run(
        [sys.executable, "-c", OPENTELEMETRY_SCRIPT],
        cwd=PROJECT_ROOT,
        env=child_env({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "JOBS_IN_SERVER": "false"}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, list[object]] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


TRACING_MODULES = ("opentelemetry.sdk.trace", "opentelemetry.instrumentation", "opentelemetry.exporter")


def test_without_an_endpoint_the_app_imports_nothing_of_opentelemetry_beyond_what_its_dependencies_do() -> None:
    report = _run_app_in_a_fresh_process(None)
    assert report["statuses"] == [200, 200, 401, 404, 200]
    assert report["added"] == []
    assert not [name for name in report["all"] if str(name).startswith(TRACING_MODULES)]


def test_with_an_endpoint_the_same_run_does_load_the_sdk_and_the_instrumentation() -> None:
    """The check above can fail: the same script, traced, loads them (to a collector that is not there)."""
    report = _run_app_in_a_fresh_process(f"http://127.0.0.1:{free_port()}")
    assert report["statuses"] == [200, 200, 401, 404, 200]
    assert {
        "opentelemetry.sdk.trace",
        "opentelemetry.instrumentation.asgi",
        "opentelemetry.instrumentation.sqlalchemy",
    } <= set(report["added"])
