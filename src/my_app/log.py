"""Logging set-up: readable console lines in dev, one JSON object per line in prod (structlog).

Three rules keep logging from hurting the server when things go wrong:

- **Rendering happens off the event loop.** Records go through a queue to a thread that formats and
  writes them, in batches (at most `WRITE_INTERVAL` late; warnings and errors at once). A
  traceback rendered on the loop stops every request meanwhile: Rich's renderer took 9-26 s per
  database error on this machine, and a PostgreSQL restart stalled the server for that long.
- **One traceback per distinct error per interval** (`TRACEBACK_INTERVAL`): a database restart makes
  every request fail the same way, and 2,000 copies of the same traceback help nobody. The first
  occurrence of an error (its type and the line that raised it) keeps its traceback; repeats within
  the interval log their one line, with the error's type and message.
- **No secrets in access lines.** Socket URLs carry a signed token in their query
  (`/socket/websocket?token=...`); uvicorn's WebSocket lines and the app's access line
  (`my_app_web.telemetry`) show it as `[FILTERED]`. Headers (`Authorization`, `Cookie`) and bodies
  are never logged.

Every line logged while a request is answered carries that request's fields (request id, method,
route, user id): the web edge sets `current_request` to a function that reads them when a line is
logged, so a route matched or a user signed in halfway through the request shows up on later lines.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import logging.handlers
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TextIO

import orjson
import structlog

from my_app import tracing
from my_app.config import Settings

TRACEBACK_INTERVAL = 60.0  # seconds during which an error's traceback is shown only once
WRITE_INTERVAL = 0.1  # seconds an info line may wait before it is written (see _Writer)
WRITE_BATCH = 256  # records that wake the writer at once
FILTERED = "[FILTERED]"
# Query parameters whose values never reach a log line.
_SECRET_QUERY = re.compile(r"([?&](?:token|access_token)=)[^&\s\"']*", re.IGNORECASE)
_MAX_REMEMBERED_ERRORS = 1_000
_CONTEXT_ATTRIBUTE = "structlog_context"

# The request being answered, if any: its log fields, read when a line is logged (see the docstring).
RequestFields = Callable[[], Mapping[str, object]]
current_request: ContextVar[RequestFields | None] = ContextVar("my_app.log.current_request", default=None)

_listener: _Writer | None = None
_listener_lock = threading.Lock()


_SHARED: list[structlog.typing.Processor] = [structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name]


def configure(settings: Settings) -> None:
    """Route stdlib and structlog records through one renderer chosen by `LOG_FORMAT`, off the loop."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_request_fields,
            tracing.add_trace_ids,  # trace_id/span_id while a span is current (OTEL_EXPORTER_OTLP_ENDPOINT)
            *_SHARED,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(settings.log_format or "console"))
    render_event = renderer(settings.log_format or "console")
    handler.addFilter(scrub_secrets)
    handler.addFilter(TracebackLimiter(TRACEBACK_INTERVAL))
    _start_writer(handler, render_event)
    logging.getLogger().setLevel(settings.log_level.upper())
    # uvicorn's own handlers would print every line twice.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # The app writes one access line per request itself (my_app_web.telemetry). uvicorn writes its
    # own when this logger has handlers, its parents' included: none.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False


def renderer(log_format: str) -> structlog.typing.Processor:
    """The last step of every line: one JSON object (`json`), or a readable console line (`console`)."""
    if log_format == "json":
        return structlog.processors.JSONRenderer(serializer=_dumps)
    # Plain tracebacks: Rich's took seconds each (on the event loop, before the queue), and would
    # print locals (passwords, tokens) if asked to.
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback)


def _dumps(event: object, **options: Any) -> str:
    """orjson, for JSON lines: ~1 µs a line where the stdlib's json took ~9 (bench/telemetry_overhead.py)."""
    return orjson.dumps(event, default=options.get("default")).decode()


def formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    """What renders every record (see `renderer`)."""
    exception_step = [structlog.processors.format_exc_info] if log_format == "json" else []
    return structlog.stdlib.ProcessorFormatter(
        # Records of stdlib loggers are rendered in the writer thread: their context and time come
        # from the record, captured where they were logged.
        foreign_pre_chain=[_merge_record_context, *_SHARED, _timestamp_from_record],
        processors=[
            _timestamp_from_record,  # for event dicts logged without one
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exception_step,
            renderer(log_format),
        ],
    )


def write_event(event: dict[str, object]) -> None:
    """Write `event` (with its own `event`, `level` and `logger` fields) as one line, the cheap way.

    For a line written on every request (the access line): no LogRecord, no formatter chain and no
    filters (the caller scrubs what it puts in); the writer thread adds the time it was called and
    renders it as every other line. The caller checks the level (`logger.isEnabledFor`).
    """
    writer = _listener
    if writer is not None:
        writer.put_event(time.time(), event)


# --- Off the event loop ---


class _Enqueue(logging.handlers.QueueHandler):
    """Puts the record itself on the queue: formatting (tracebacks included) happens in the writer thread.

    The stdlib QueueHandler formats in `prepare()`, i.e. on the caller's thread, which is what we avoid.
    The caller's structlog context (the request id) is captured here, where it is still set.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if isinstance(record.msg, dict):
            return record  # a structlog line: its event dict holds its context already
        context = structlog.contextvars.get_contextvars()
        fields = current_request.get()
        if fields is not None:
            context = {**fields(), **context}
        if trace := tracing.trace_ids():  # the current span is known here, not in the writer thread
            context = {**context, **trace}
        setattr(record, _CONTEXT_ATTRIBUTE, context)
        return record


class _Writer:
    """The thread that renders and writes records, woken in batches.

    Waking a thread for each record (a queue's `put`) cost ~110 µs of CPU a record on this machine,
    more than the rest of a request's telemetry together (bench/telemetry_overhead.py): records are
    appended to a deque instead, and the thread drains it every `WRITE_INTERVAL`, or at once when
    `WRITE_BATCH` records wait or a warning or error comes (those are not kept waiting).
    """

    def __init__(self, handler: logging.StreamHandler[TextIO], render_event: structlog.typing.Processor) -> None:
        self.handlers = (handler,)
        self.render_event = render_event
        self._pending: collections.deque[logging.LogRecord | tuple[float, dict[str, object]]] = collections.deque()
        self._wake = threading.Event()
        self._drained = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="log writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put_nowait(self, record: logging.LogRecord) -> None:
        self._pending.append(record)
        if record.levelno >= logging.WARNING or len(self._pending) >= WRITE_BATCH:
            self._wake.set()

    def put_event(self, created: float, event: dict[str, object]) -> None:
        self._pending.append((created, event))
        if len(self._pending) >= WRITE_BATCH:
            self._wake.set()

    def sync(self, timeout: float) -> None:
        """Wait until what was logged before the call is written (two passes: one may be under way)."""
        for _ in range(2):
            self._drained.clear()
            self._wake.set()
            self._drained.wait(timeout)

    def stop(self) -> None:
        """Write what waits, then end the thread."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._wake.wait(WRITE_INTERVAL)
            self._wake.clear()
            self._drain()
            if self._stopping:
                self._drain()
                return

    def _drain(self) -> None:
        handler = self.handlers[0]
        # Event lines (the access lines) are written together, one write per batch: stderr is line
        # buffered, and a write per line is a system call that gives up and takes back the GIL each
        # time, which the event loop pays for (~50 µs a request at 4,000 requests/s).
        lines: list[str] = []
        while self._pending:
            item = self._pending.popleft()
            if isinstance(item, logging.LogRecord):
                self._write(handler, lines)  # in order: the lines logged before this record first
                if item.levelno >= handler.level:
                    handler.handle(item)
                continue
            created, event = item
            event["timestamp"] = _iso(created)
            try:
                line = self.render_event(None, "info", event)
                if not isinstance(line, str):
                    raise TypeError(f"the log renderer gave {type(line).__name__}, not text")
                lines.append(line)
            except Exception:
                handler.handleError(logging.makeLogRecord({"msg": repr(event)}))
        self._write(handler, lines)
        # A stream closed under the writer (at exit, a test runner's captured stderr) must not kill it.
        with handler.lock or contextlib.nullcontext(), contextlib.suppress(ValueError, OSError):
            handler.flush()
        self._drained.set()

    @staticmethod
    def _write(handler: logging.StreamHandler[TextIO], lines: list[str]) -> None:
        if not lines:
            return
        text = "\n".join(lines) + "\n"
        lines.clear()
        try:
            with handler.lock or contextlib.nullcontext():
                handler.stream.write(text)
        except Exception:
            handler.handleError(logging.makeLogRecord({"msg": f"{text.count(chr(10))} log lines"}))


def _start_writer(handler: logging.StreamHandler[TextIO], render_event: structlog.typing.Processor) -> None:
    global _listener
    with _listener_lock:
        if _listener is not None:
            _listener.stop()  # writes what is queued, then ends the old thread
        else:
            atexit.register(flush)
        _listener = _Writer(handler, render_event)
        _listener.start()
    enqueue = _Enqueue(_listener)  # type: ignore[arg-type]  # a queue as far as QueueHandler goes: put_nowait
    # Not used to render (the writer does); there for code that renders a record as the app would.
    enqueue.setFormatter(handler.formatter)
    logging.getLogger().handlers[:] = [enqueue]


def written(timeout: float = 5.0) -> None:
    """Wait until every line logged so far is written (for whoever reads the log: tests)."""
    writer = _listener
    if writer is not None:
        writer.sync(timeout)


def flush() -> None:
    """Write every queued record, and stop the writer thread (at exit; `configure` starts a new one)."""
    global _listener
    with _listener_lock:
        if _listener is not None:
            _listener.stop()
            _listener = None


def add_request_fields(
    logger: object, method_name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """The current request's fields (request id, method, route, user id), unless the line has its own."""
    fields = current_request.get()
    if fields is not None:
        for key, value in fields().items():
            event_dict.setdefault(key, value)
    return event_dict


def _merge_record_context(
    logger: object, method_name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    record = event_dict.get("_record")
    context = getattr(record, _CONTEXT_ATTRIBUTE, None)
    if context is None:  # rendered where it was logged (a handler of its own, not the queue)
        merged = structlog.contextvars.merge_contextvars(logger, method_name, event_dict)
        return add_request_fields(logger, method_name, merged)
    return {**context, **event_dict}


def _timestamp_from_record(
    logger: object, method_name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    if "timestamp" not in event_dict:
        record = event_dict.get("_record")
        created = record.created if isinstance(record, logging.LogRecord) else time.time()
        event_dict["timestamp"] = _iso(created)
    return event_dict


_second: tuple[int, str] = (-1, "")  # the last second formatted, and its text: one strftime a second


def _iso(epoch: float) -> str:
    global _second
    whole = int(epoch)
    second, text = _second
    if whole != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    return f"{text}.{int((epoch - whole) * 1_000_000):06d}Z"


# --- One traceback per distinct error per interval ---


class TracebackLimiter(logging.Filter):
    """Drop the traceback of an error already shown within `interval` seconds; keep its line.

    An error is "the same" when its type and the line that raised it (the innermost frame) are.

    Examples:
        limiter = TracebackLimiter(60)
        limiter.filter(record_with_traceback)         # True, traceback kept (first time)
        limiter.filter(same_error_again)              # True, traceback dropped, message gets "(OperationalError: ...)"
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._shown: dict[tuple[str, str, int], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info:
            return True
        error = record.exc_info[1]
        if error is None or not isinstance(record.msg, str):
            return True
        key = error_key(error)
        now = self.clock()
        with self._lock:
            shown = self._shown.get(key)
            if shown is not None and now - shown < self.interval:
                record.exc_info, record.exc_text = None, None
                summary = one_line(error).replace("%", "%%")
                record.msg = f"{record.msg} ({summary}; traceback shown at most every {self.interval:g}s)"
                return True
            if len(self._shown) >= _MAX_REMEMBERED_ERRORS:
                self._shown = {k: t for k, t in self._shown.items() if now - t < self.interval}
            self._shown[key] = now
        return True


def error_key(error: BaseException) -> tuple[str, str, int]:
    """The error's type and the place it was raised (innermost frame): what makes two errors "the same"."""
    tb: TracebackType | None = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb is not None else ("?", 0)
    return (f"{type(error).__module__}.{type(error).__qualname__}", *where)


def one_line(error: BaseException) -> str:
    """`Type: first line of the message` (for a log line; never a multi-line dump)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__


# --- Secrets in URLs ---


def scrub_secrets(record: logging.LogRecord) -> bool:
    """Replace token values in the URLs of uvicorn's access and WebSocket lines with `[FILTERED]`."""
    if record.name.startswith("uvicorn") and isinstance(record.args, tuple):
        record.args = tuple(scrub_url(arg) if isinstance(arg, str) else arg for arg in record.args)
    return True


def scrub_url(url: str) -> str:
    """`url` with the values of token parameters replaced.

    Examples:
        scrub_url("/socket/websocket?token=abc&vsn=2.0.0")   # "/socket/websocket?token=[FILTERED]&vsn=2.0.0"
        scrub_url("/api/users/me")                           # unchanged
    """
    return _SECRET_QUERY.sub(rf"\g<1>{FILTERED}", url)
