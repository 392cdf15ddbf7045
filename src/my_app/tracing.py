"""OpenTelemetry traces, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: the Repo's SQL and outgoing httpx calls.

Off (the variable unset), nothing of OpenTelemetry is imported and nothing runs: `installed()` returns
at its first line, and every `opentelemetry` import in this module sits inside the function that
needs it. Install the packages with the `otel` extra (`pip install 'my_app[otel]'`).

On, the running app owns one `Tracing` (in the slot `running`, like its Repo): a TracerProvider with
the app's Resource (service.name, service.version, deployment.environment), a BatchSpanProcessor
that exports over OTLP/HTTP from its own thread (a request only appends its spans to a queue; a
collector that is down or slow never delays one), the SQLAlchemy instrumentation of the Repo's
engine and the httpx instrumentation (both process-wide patches, removed when the app stops). When
the app stops, the provider exports what is queued (bounded by OTEL_EXPORTER_OTLP_TIMEOUT) and
shuts down. The web layer's server spans (`my_app_web.tracing`) use the running app's provider.

The exporter and the SDK read the standard variables too: OTEL_EXPORTER_OTLP_HEADERS (a vendor's
API key), OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, OTEL_BSP_*.

Examples:
    with tracing.installed(settings, app.repo):     # what Application.start does (held until it stops)
        tracing.running.value                         # the Tracing, or None when tracing is off
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from my_app.config import ConfigError, Settings
from my_app.running import Slot

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span

    from my_app.repo import Repo

TRACES_PATH = "/v1/traces"  # OTLP/HTTP's path for spans, under the endpoint's base URL (as the SDK does)


@dataclass
class Tracing:
    """The running app's tracer provider, and what it instruments until `stop()`."""

    provider: TracerProvider
    # `opentelemetry.trace.get_current_span`, kept here so the log processor imports nothing per line.
    current_span: Callable[[], Span]

    def stop(self) -> None:
        """Remove the instrumentation, export the queued spans, shut the exporter down."""
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        from my_app.repo import trace_queries  # here: log lines import this module, and need no SQLAlchemy

        try:
            trace_queries(None)
            SQLAlchemyInstrumentor().uninstrument()
            HTTPXClientInstrumentor().uninstrument()
        finally:
            self.provider.shutdown()


# The running app's Tracing (None: tracing is off, or no app is running).
running: Slot[Tracing | None] = Slot("tracing", None)


@contextmanager
def installed(settings: Settings, repo: Repo | None) -> Iterator[Tracing | None]:
    """Trace while the block runs when OTEL_EXPORTER_OTLP_ENDPOINT is set; stop and flush at its end.

    The instrumentation patches httpx and SQLAlchemy for the whole process, so an app started inside
    a traced one (a test, a CLI command) keeps the outer app's tracing rather than replacing it.
    """
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint or running.value is not None:
        yield running.value
        return
    tracing = start(settings, endpoint, repo)
    try:
        with running.holding(tracing):
            yield tracing
    finally:
        tracing.stop()


def start(settings: Settings, endpoint: str, repo: Repo | None) -> Tracing:
    """A provider exporting to `endpoint` (a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT), instrumenting
    `repo`'s engine and every httpx client."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, get_current_span
    except ImportError as exc:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is missing ({exc.name}): pip install 'my_app[otel]'"
        ) from exc

    resource = Resource.create(
        {
            "service.name": settings.otel_service_name,
            "service.version": _version(),
            # The attribute's current name, and the older one that most backends still group by.
            "deployment.environment.name": settings.env,
            "deployment.environment": settings.env,
        }
    )
    # shutdown_on_exit=False: the app shuts the provider down when it stops, not an atexit hook.
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    if repo is not None:
        # skip_dep_check: 0.66b2 declares "sqlalchemy < 2.1" and would instrument nothing on our 2.1;
        # the engine events it listens to are unchanged in 2.1 (tests/my_app_web/test_tracing.py).
        SQLAlchemyInstrumentor().instrument(
            engine=repo.engine.sync_engine, tracer_provider=provider, skip_dep_check=True
        )
        from my_app.repo import trace_queries

        # The reads that go to the driver directly (`my_app.repo.Query`) are spans alike.
        trace_queries(provider.get_tracer("my_app.repo"), SpanKind.CLIENT)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    return Tracing(provider=provider, current_span=get_current_span)


def trace_ids() -> Mapping[str, str]:
    """`trace_id` and `span_id` of the current span (hex, as trace stores show them); empty when not tracing.

    For log lines: call it where the line is logged (the current span is a context variable), not in
    a thread that renders lines later. Off, it costs one attribute read.
    """
    tracing = running.value
    if tracing is None:
        return _NO_IDS
    context = tracing.current_span().get_span_context()
    if not context.is_valid:  # outside any span
        return _NO_IDS
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def add_trace_ids(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the current span's `trace_id` and `span_id` on the line, when tracing.

    It must run where the line is logged (structlog's own processor chain); see `trace_ids()`.
    """
    event_dict.update(trace_ids())
    return event_dict


_NO_IDS: Mapping[str, str] = MappingProxyType({})


def _version() -> str:
    try:
        return importlib.metadata.version("my_app")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "0.0.0"
