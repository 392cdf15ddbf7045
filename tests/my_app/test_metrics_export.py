"""The exposition outside /metrics: METRICS_PORT's server, and the multiprocess directory's upkeep."""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from my_app import metrics, metrics_export
from my_app.config import Settings
from tests.support.processes import free_port


async def test_metrics_port_serves_the_app_s_metrics_and_the_job_counts(
    started_app: object, settings: Settings
) -> None:
    metrics.HTTP_REQUESTS.labels("GET", "/health", "200").inc()
    port = free_port()
    stop = metrics_export.serve_metrics_port(
        settings.model_copy(update={"metrics_port": port, "bind_host": "127.0.0.1"}), asyncio.get_running_loop()
    )
    assert stop is not None
    try:
        # From a thread, as Prometheus would: the job count runs on this loop meanwhile.
        response = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics", timeout=10)
    finally:
        stop()

    assert response.status_code == 200
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in response.text
    assert "# TYPE jobs gauge" in response.text
    assert "_created" not in response.text


async def test_metrics_port_answers_health_while_the_loop_runs_and_503_once_it_is_stuck(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A liveness probe for `myapp worker` (no HTTP of its own): is its event loop still turning?"""
    monkeypatch.setattr(metrics_export, "HEALTH_TIMEOUT", 0.5)
    port = free_port()
    stop = metrics_export.serve_metrics_port(
        settings.model_copy(update={"metrics_port": port, "bind_host": "127.0.0.1"}), asyncio.get_running_loop()
    )
    assert stop is not None
    url = f"http://127.0.0.1:{port}/health"
    try:
        healthy = await asyncio.to_thread(httpx.get, url, timeout=10)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The probe arrives while the loop is stuck in a blocking call (the point of the probe).
            probe = pool.submit(lambda: time.sleep(0.3) or httpx.get(url, timeout=10))
            time.sleep(1.5)  # noqa: ASYNC251
            stuck = probe.result(timeout=10)
    finally:
        stop()

    assert (healthy.status_code, healthy.json()) == (200, {"status": "ok"})
    assert (stuck.status_code, stuck.json()) == (503, {"status": "error"})


async def test_without_metrics_port_nothing_is_served(settings: Settings) -> None:
    unset = settings.model_copy(update={"metrics_port": None})
    assert metrics_export.serve_metrics_port(unset, asyncio.get_running_loop()) is None


def test_the_live_gauges_of_exited_workers_are_dropped_their_counters_kept(tmp_path: Path) -> None:
    exited = 2**22 + 12345  # above any pid this machine hands out (pid_max is at most 2**22)
    for name in (f"gauge_liveall_{exited}.db", f"gauge_livesum_{exited}.db", f"counter_{exited}.db"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / f"gauge_liveall_{os.getpid()}.db").write_bytes(b"")

    metrics_export.forget_dead_workers(str(tmp_path))

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"counter_{exited}.db", f"gauge_liveall_{os.getpid()}.db"]
    )


def test_a_fresh_multiprocess_directory_is_empty_and_set_for_the_workers() -> None:
    previous = os.environ.get(metrics.MULTIPROCESS_ENV)
    try:
        directory = metrics_export.fresh_multiprocess_dir()
        assert os.environ[metrics.MULTIPROCESS_ENV] == directory
        assert os.listdir(directory) == []
        metrics_export.remove_multiprocess_dir(directory)
        assert not os.path.exists(directory)
    finally:
        if previous is None:
            os.environ.pop(metrics.MULTIPROCESS_ENV, None)
        else:
            os.environ[metrics.MULTIPROCESS_ENV] = previous
