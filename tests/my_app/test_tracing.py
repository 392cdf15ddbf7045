"""The core's tracing: off without an endpoint; one Tracing per process, owned by the outermost app;
log lines inside a span carry its ids; httpx calls are traced while an app traces, and no longer after."""

from __future__ import annotations

import logging
import sys

import httpx
import pytest
import structlog
from opentelemetry import trace

from my_app import tracing
from my_app.config import ConfigError, Settings
from tests.support.log_capture import AppLog, app_log_fixture  # noqa: F401 - fixture
from tests.support.otlp import fake_mail_api, otlp_receiver


def _traced(settings: Settings, endpoint: str) -> Settings:
    return settings.model_copy(update={"otel_exporter_otlp_endpoint": endpoint})


def test_without_an_endpoint_nothing_is_installed(settings: Settings) -> None:
    assert settings.otel_exporter_otlp_endpoint is None
    with tracing.installed(settings, None) as installed:
        assert installed is None
        assert tracing.running.value is None


def test_a_set_endpoint_without_the_packages_stops_start_up_with_one_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    missing = r"OpenTelemetry is missing .*pip install 'my_app\[otel\]'"
    with pytest.raises(ConfigError, match=missing), tracing.installed(_traced(settings, "http://127.0.0.1:4318"), None):
        pass
    assert tracing.running.value is None


def test_log_lines_carry_the_current_span_ids_only_while_tracing(settings: Settings) -> None:
    line = {"event": "hello"}
    assert tracing.trace_ids() == {}
    assert tracing.add_trace_ids(None, "info", dict(line)) == line  # off: the line as it was

    with otlp_receiver() as receiver, tracing.installed(_traced(settings, receiver.url), None) as installed:
        assert installed is not None
        assert tracing.add_trace_ids(None, "info", dict(line)) == line  # on, but outside any span
        with installed.provider.get_tracer("test").start_as_current_span("work") as span:
            logged = tracing.add_trace_ids(None, "info", dict(line))
            ids = tracing.trace_ids()
        context = span.get_span_context()
    assert ids == {"trace_id": logged["trace_id"], "span_id": logged["span_id"]}
    assert logged == {
        "event": "hello",
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }
    assert [received.trace_id for received in receiver.spans] == [logged["trace_id"]]


async def test_an_app_started_inside_a_traced_one_keeps_its_tracing(settings: Settings) -> None:
    with otlp_receiver() as receiver, fake_mail_api() as url:
        traced = _traced(settings, receiver.url)
        with tracing.installed(traced, None) as outer:
            with tracing.installed(traced, None) as inner:
                assert inner is outer
            # The inner app's stop left the process-wide instrumentation and the provider alone.
            assert tracing.running.value is outer
            async with httpx.AsyncClient() as client:
                await client.post(url, json={})
        assert tracing.running.value is None
        async with httpx.AsyncClient() as client:
            await client.post(url, json={})  # after the app stopped: not traced, nothing exported
        spans = receiver.spans

    assert [
        (span.kind, span.name, span.attributes.get("url.full", span.attributes.get("http.url"))) for span in spans
    ] == [("client", "POST", url)]
    assert spans[0].resource["service.name"] == traced.otel_service_name
    assert spans[0].resource["deployment.environment"] == "test"
    # No tracer provider was made global: FastAPI's own (native) telemetry stays off.
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"


def test_the_apps_log_lines_carry_the_span_they_were_logged_in(settings: Settings, app_log: AppLog) -> None:
    with otlp_receiver() as receiver, tracing.installed(_traced(settings, receiver.url), None) as installed:
        assert installed is not None
        with installed.provider.get_tracer("test").start_as_current_span("work") as span:
            logging.getLogger("my_app.example").info("a stdlib line")
            structlog.get_logger("my_app.example").info("a structlog line")
        logging.getLogger("my_app.example").info("after the span")
    context = span.get_span_context()
    by_event = {line["event"]: line for line in app_log.lines()}
    for event in ("a stdlib line", "a structlog line"):
        assert by_event[event]["trace_id"] == format(context.trace_id, "032x")
        assert by_event[event]["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in by_event["after the span"]
