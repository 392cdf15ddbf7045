"""The Prometheus exposition of `my_app.metrics`: for `GET /metrics`, and for `METRICS_PORT`.

What is exported:
- the app's metrics (`metrics.registry`): this process's values, or, in multiprocess mode
  (`PROMETHEUS_MULTIPROC_DIR`, `myapp server --workers N`), the sum over every worker's files;
- `jobs{queue,task,state}`, counted in the database when read (`jobs.count_jobs`). When the
  database does not answer within `JOBS_COUNT_TIMEOUT`, the family is left out and the rest is
  still exported: a scrape must not hang on a database outage.

`METRICS_PORT` serves the same text, unauthenticated (for a private network), from a thread:
`myapp server` serves it from its parent process, which reads every worker's files, and
`myapp worker` from its own process (`serve_port`).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from my_app import jobs, metrics
from my_app.config import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
JOBS_COUNT_TIMEOUT = 2.0  # seconds a scrape waits for the database's job counts
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")

JobsFamily = Callable[[], Iterable[Metric]]
T = TypeVar("T")


def multiprocess_dir() -> str | None:
    """The directory the workers write their values to, in multiprocess mode; else None."""
    return os.environ.get(metrics.MULTIPROCESS_ENV) or None


class AppMetrics(Collector):
    """The app's metrics, from this process or summed over the workers' files, plus `jobs{}` if given."""

    def __init__(self, directory: str | None = None, jobs_family: JobsFamily | None = None) -> None:
        self.directory = directory
        self.jobs_family = jobs_family
        self._workers = MultiProcessCollector(None, path=directory) if directory else None  # type: ignore[no-untyped-call]

    def collect(self) -> Iterator[Metric]:
        if self._workers is not None and self.directory is not None:
            forget_dead_workers(self.directory)
            yield from self._workers.collect()  # type: ignore[no-untyped-call]
        else:
            yield from metrics.registry.collect()
        if self.jobs_family is not None:
            yield from self.jobs_family()


def exposition(collector: Collector) -> bytes:
    """Prometheus text of what `collector` yields."""
    return generate_latest(collector)


def forget_dead_workers(directory: str) -> None:
    """Drop the live-gauge files of workers that exited (uvicorn restarts a worker that died).

    Their counters and histograms stay: totals never go back.
    """
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        found = _LIVE_GAUGE_FILE.search(path)
        if found and not _alive(int(found.group(1))):
            mark_process_dead(int(found.group(1)), directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- jobs{queue,task,state} ---


def jobs_family(counts: Iterable[jobs.JobCount]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "jobs",
        "Jobs in the queue, by queue, task and state (counted in the database).",
        labels=["queue", "task", "state"],
    )
    for count in counts:
        family.add_metric([count.queue, count.task, count.state], count.count)
    return family


async def count_jobs_family() -> list[Metric]:
    """`[jobs{}]` from the database, or `[]` when it does not answer within JOBS_COUNT_TIMEOUT."""
    try:
        async with asyncio.timeout(JOBS_COUNT_TIMEOUT):
            counts = await jobs.count_jobs()
    except Exception as error:  # the database is down or slow: export the rest
        logger.warning("metrics: jobs not counted (%s: %s)", type(error).__name__, error)
        return []
    return [jobs_family(counts)]


def _on_loop(loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, list[Metric]]]) -> JobsFamily:
    """A `JobsFamily` for a thread: runs the count on the app's loop, waits a bounded time."""

    def collect() -> list[Metric]:
        try:
            return _run_on(loop, make, JOBS_COUNT_TIMEOUT + 1)
        except Exception:  # a loop closed, stuck or slow: the rest is exported
            return []

    return collect


def _run_on(loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
    """From another thread: run `make()` on `loop` and wait for it at most `timeout` seconds (then
    cancel it and raise); raises at once when the loop is closed."""
    if loop.is_closed():
        raise RuntimeError("the app's event loop is closed")
    future = asyncio.run_coroutine_threadsafe(make(), loop)
    try:
        return future.result(timeout)
    except BaseException:
        future.cancel()
        raise


# --- METRICS_PORT ---


def serve_port(port: int, *, host: str, loop: asyncio.AbstractEventLoop | None = None) -> Callable[[], None]:
    """Serve the exposition on `port` from a daemon thread; returns what stops it.

    With `loop` (the running app's), `jobs{}` is counted on it; without (the parent of several
    workers, which runs no app), `jobs{}` is left to `/metrics`. `GET /health` on the same port
    answers whether this process is alive: 200 `{"status": "ok"}` when `loop` runs a callback
    within HEALTH_TIMEOUT, else 503 — a liveness probe for `myapp worker`, which serves no HTTP
    of its own (a loop stuck in a blocking call runs no job either).
    """
    family = _on_loop(loop, count_jobs_family) if loop is not None else None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AppMetrics(multiprocess_dir(), family))
    app = _with_health(make_wsgi_app(registry), (lambda: _loop_answers(loop)) if loop is not None else None)
    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"metrics-port-{port}", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop


HEALTH_TIMEOUT = 5.0  # seconds the app's loop may take to run a callback before /health says 503
_HEALTHY = (b"200 OK", b'{"status":"ok"}')
_STUCK = (b"503 Service Unavailable", b'{"status":"error"}')


def _with_health(metrics_app: WSGIApplication, alive: Callable[[], bool] | None) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/health":
            return metrics_app(environ, start_response)
        status, body = _HEALTHY if alive is None or alive() else _STUCK
        start_response(status.decode(), [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def _loop_answers(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        _run_on(loop, lambda: asyncio.sleep(0), HEALTH_TIMEOUT)
    except Exception:  # a timeout, or a loop that stopped meanwhile
        return False
    return True


class _QuietHandler(WSGIRequestHandler):
    """No line on stderr per scrape or probe."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the overridden method's name
        pass


def serve_metrics_port(settings: Settings, loop: asyncio.AbstractEventLoop) -> Callable[[], None] | None:
    """`serve_port` on METRICS_PORT for a process that runs the app on `loop` (`myapp worker`);
    None when METRICS_PORT is not set."""
    if not settings.metrics_port:
        return None
    return serve_port(settings.metrics_port, host=settings.bind_host, loop=loop)


# --- The multiprocess directory of `myapp server --workers N` ---


def fresh_multiprocess_dir() -> str:
    """A new empty directory for the workers' files, set as PROMETHEUS_MULTIPROC_DIR for the
    processes started from now on (uvicorn's workers import prometheus-client afresh)."""
    directory = tempfile.mkdtemp(prefix="myapp-metrics-")
    os.environ[metrics.MULTIPROCESS_ENV] = directory
    return directory


def remove_multiprocess_dir(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)
