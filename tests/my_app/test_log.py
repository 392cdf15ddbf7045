"""Logging: rendered off the event loop, one traceback per distinct error per interval, no tokens in URLs."""

from __future__ import annotations

import io
import logging
import logging.handlers
import threading
from collections.abc import Iterator

import pytest
import structlog

from my_app import log
from my_app.config import Settings


def error_from(line: int) -> ValueError:
    """A ValueError raised at one of two places, so two calls with the same `line` are "the same error"."""
    try:
        if line == 1:
            raise ValueError("first place")
        raise ValueError("second place")
    except ValueError as error:
        return error


def record(error: BaseException | None, message: str = "GET /api/users/me failed with 503") -> logging.LogRecord:
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    return logging.LogRecord("my_app_web.controllers.fallback", logging.WARNING, __file__, 1, message, (), exc_info)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_error_of_a_kind_keeps_its_traceback_and_repeats_within_the_interval_keep_one_line() -> None:
    clock = Clock()
    limiter = log.TracebackLimiter(60, clock=clock)

    first, again, elsewhere = record(error_from(1)), record(error_from(1)), record(error_from(2))
    assert limiter.filter(first)
    assert limiter.filter(again)
    assert limiter.filter(elsewhere)

    assert first.exc_info is not None
    assert again.exc_info is None
    assert again.getMessage() == (
        "GET /api/users/me failed with 503 (ValueError: first place; traceback shown at most every 60s)"
    )
    assert elsewhere.exc_info is not None  # raised on another line: another error


def test_an_error_s_traceback_is_shown_again_once_the_interval_has_passed() -> None:
    clock = Clock()
    limiter = log.TracebackLimiter(60, clock=clock)
    limiter.filter(record(error_from(1)))

    clock.now += 59
    within = record(error_from(1))
    limiter.filter(within)
    clock.now += 2
    after = record(error_from(1))
    limiter.filter(after)

    assert within.exc_info is None
    assert after.exc_info is not None


def test_a_message_with_a_percent_sign_survives_the_limiter() -> None:
    limiter = log.TracebackLimiter(60)
    limiter.filter(record(error_from(1)))
    repeated = record(error_from(1), message="100%% of %s failed")
    repeated.args = ("requests",)

    limiter.filter(repeated)

    assert repeated.getMessage().startswith("100% of requests failed (ValueError")


@pytest.mark.parametrize(
    ("url", "scrubbed"),
    [
        ("/socket/websocket?token=SFMyNTY.abc&vsn=2.0.0", "/socket/websocket?token=[FILTERED]&vsn=2.0.0"),
        ("/socket/websocket?vsn=2.0.0&token=SFMyNTY.abc", "/socket/websocket?vsn=2.0.0&token=[FILTERED]"),
        ("/api/users/me", "/api/users/me"),
        ("/search?q=token", "/search?q=token"),
    ],
)
def test_scrub_url_hides_token_values(url: str, scrubbed: str) -> None:
    assert log.scrub_url(url) == scrubbed


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """The app's logging, writing into a buffer; afterwards it writes to stderr again, as the app's does."""
    level = logging.getLogger().level
    stream = io.StringIO()
    log.configure(Settings(log_format="console", log_level="INFO"))
    assert log._listener is not None
    for handler in log._listener.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
    try:
        yield stream
    finally:
        log.configure(Settings(log_format="console"))
        logging.getLogger().setLevel(level)


class SlowToRenderError(Exception):
    """Records the threads its message was rendered on."""

    rendered_on: list[str]

    def __str__(self) -> str:
        self.rendered_on.append(threading.current_thread().name)
        return "slow to render"


def test_records_are_rendered_off_the_calling_thread_with_the_caller_s_context(configured: io.StringIO) -> None:
    error = SlowToRenderError()
    error.rendered_on = []
    root = logging.getLogger()
    # pytest's own capturing handlers render on the caller's thread: leave only the app's.
    pytest_handlers = [h for h in root.handlers if not isinstance(h, logging.handlers.QueueHandler)]
    for handler in pytest_handlers:
        root.removeHandler(handler)
    try:
        with structlog.contextvars.bound_contextvars(request_id="req-123"):
            logging.getLogger("my_app.test").error("it failed", exc_info=error)
        caller = threading.current_thread().name
        log.flush()
    finally:
        for handler in pytest_handlers:
            root.addHandler(handler)

    assert error.rendered_on
    assert caller not in error.rendered_on
    output = configured.getvalue()
    assert "it failed" in output
    assert "request_id=req-123" in output
    assert "SlowToRenderError: slow to render" in output


def test_uvicorn_s_websocket_lines_never_show_a_socket_token(configured: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" 403', "127.0.0.1:5000", "/socket/websocket?token=SECRET&vsn=2.0.0"
    )
    log.flush()

    output = configured.getvalue()
    assert "SECRET" not in output
    assert output.count("/socket/websocket?token=[FILTERED]&vsn=2.0.0") == 1


def test_uvicorn_s_access_line_is_off_the_app_writes_its_own(configured: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/socket/websocket?token=SECRET&vsn=2.0.0", "1.1", 403
    )
    log.flush()

    assert configured.getvalue() == ""


class CountingStream(io.StringIO):
    """A stream that counts its writes (each is a system call on a real stderr)."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_event_lines_are_written_a_batch_at_a_time_in_order_with_records(configured: io.StringIO) -> None:
    stream = CountingStream()
    assert log._listener is not None
    for handler in log._listener.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
    log.written()  # an empty batch writes nothing
    assert stream.writes == 0

    for number in range(50):
        log.write_event({"event": f"request {number}", "level": "info", "logger": "my_app_web.access"})
    log.written()

    assert stream.writes == 1  # 50 lines, one write
    lines = stream.getvalue().splitlines()
    assert len(lines) == 50
    assert all(f"request {number} " in line for number, line in enumerate(lines))

    log.write_event({"event": "before the warning", "level": "info", "logger": "my_app_web.access"})
    logging.getLogger("my_app.test").warning("a warning")
    log.write_event({"event": "after the warning", "level": "info", "logger": "my_app_web.access"})
    log.flush()

    tail = stream.getvalue().splitlines()[50:]
    assert ["before the warning" in tail[0], "a warning" in tail[1], "after the warning" in tail[2]] == [True] * 3
