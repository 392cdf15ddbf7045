"""`myapp server --workers 2`: /metrics adds up every worker's values, whichever worker answers;
METRICS_PORT serves the same totals from the parent process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import ServerProcess
from tests.support.processes import free_port

pytestmark = pytest.mark.integration

METRICS_TOKEN = "scraper-secret-for-two-workers"
REQUESTS = 200


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[ServerProcess, int]]:
    metrics_port = free_port()
    process = ServerProcess(
        port=free_port(),
        log=tmp_path / "server.log",
        env={"WEB_CONCURRENCY": "2", "METRICS_TOKEN": METRICS_TOKEN, "METRICS_PORT": str(metrics_port)},
    )
    try:
        yield process.start(), metrics_port
    finally:
        process.stop()


def health_requests(text: str) -> float:
    found = re.search(r'^http_requests_total\{method="GET",route="/health",status="200"\} ([0-9.e+]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def pids_sampled(text: str) -> set[str]:
    return set(re.findall(r'^process_resident_memory_bytes\{pid="(\d+)"\} [1-9]', text, re.M))


def fresh_connection_get(url: str, **options: object) -> httpx.Response:
    # A new connection each time: the kernel hands it to either worker.
    with httpx.Client(timeout=10) as client:
        return client.get(url, **options)  # type: ignore[arg-type]


def test_two_workers_report_the_totals_of_both(two_workers: tuple[ServerProcess, int]) -> None:
    server, metrics_port = two_workers
    for _ in range(REQUESTS):
        assert fresh_connection_get(f"{server.base_url}/health").status_code == 200

    scrapes = [
        fresh_connection_get(f"{server.base_url}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
        for _ in range(6)
    ]

    for scrape in scrapes:
        assert scrape.status_code == 200
        assert health_requests(scrape.text) == REQUESTS
        assert "_created" not in scrape.text
    assert any(len(pids_sampled(scrape.text)) == 2 for scrape in scrapes), scrapes[-1].text
    from_the_port = fresh_connection_get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert from_the_port.status_code == 200
    assert health_requests(from_the_port.text) == REQUESTS
    assert len(pids_sampled(from_the_port.text)) == 2
    # Exactly one access line per request, written by the app (uvicorn's own is off).
    assert server.output().count("route=/health") == REQUESTS


def test_one_worker_serves_metrics_port_itself_with_the_job_counts(tmp_path: Path) -> None:
    metrics_port = free_port()
    server = ServerProcess(port=free_port(), log=tmp_path / "server.log", env={"METRICS_PORT": str(metrics_port)})
    try:
        server.start()
        for _ in range(5):
            assert fresh_connection_get(f"{server.base_url}/health").status_code == 200

        scrape = fresh_connection_get(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        server.stop()

    assert scrape.status_code == 200
    assert health_requests(scrape.text) == 5
    assert "# TYPE jobs gauge" in scrape.text
    assert "# TYPE process_resident_memory_bytes gauge" in scrape.text
