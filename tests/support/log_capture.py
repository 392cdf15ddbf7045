"""The app's log output as production renders it (JSON lines), captured from the log's writer thread.

def test_x(app_log: AppLog) -> None:
    ...
    lines = app_log.lines()        # every line written so far, parsed
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from my_app import log
from my_app.config import Settings

TEST_CLIENT_LOGGERS = ("httpx", "httpcore")


class AppLog:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def text(self) -> str:
        """Everything written so far (waits for the writer thread)."""
        log.written()
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines() if line.startswith("{")]

    def access_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("logger") == "my_app_web.access"]

    def clear(self) -> None:
        log.written()
        self.stream.truncate(0)
        self.stream.seek(0)


@pytest.fixture(name="app_log")
def app_log_fixture() -> Iterator[AppLog]:
    """The app's logging in production's format (JSON) at DEBUG, writing into a buffer; afterwards it
    writes to stderr in the test settings' format again."""
    root = logging.getLogger()
    level = root.level
    # The test's own HTTP client logs every URL it calls (tokens in them): those are not the app's lines.
    test_client = [logging.getLogger(name) for name in TEST_CLIENT_LOGGERS]
    client_levels = [logger.level for logger in test_client]
    for logger in test_client:
        logger.setLevel(logging.WARNING)
    stream = io.StringIO()
    log.configure(Settings(log_format="json", log_level="DEBUG"))
    assert log._listener is not None
    for handler in log._listener.handlers:
        handler.setStream(stream)
    try:
        yield AppLog(stream)
    finally:
        log.configure(Settings(log_format="console"))
        root.setLevel(level)
        for logger, client_level in zip(test_client, client_levels, strict=True):
            logger.setLevel(client_level)
