"""Data folders for tests that start an embedded PostgreSQL of their own."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from my_app import embedded_postgres


@contextmanager
def fresh_data_dir() -> Iterator[Path]:
    """An empty data folder; a server still running in it at the end is stopped, and the folder removed.

    Not under pytest's tmp_path: run as root, the server runs as the `embedded_postgres` user, and
    each new pytest session makes /tmp/pytest-of-root private again, locking that user out.
    """
    root = Path(tempfile.mkdtemp(prefix="myapp-pg-"))
    data_dir = root / "data"
    try:
        yield data_dir
    finally:
        if embedded_postgres.is_running(data_dir):
            embedded_postgres._stop(data_dir / "postgres")
        shutil.rmtree(root, ignore_errors=True)
