"""`make bench` (`bench.suite`) without wrk: its options, how it reads wrk's and `-X importtime`'s
reports, the one line it prints when wrk is missing, and a tiny run of the sections that need no wrk."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import suite
from bench.accounts_throughput import parse_wrk
from my_app import database
from my_app.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

WRK_REPORT = """Running 5s test @ http://127.0.0.1:4000/api/users/me
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.10ms    3.20ms  80.00ms   90.00%
  Latency Distribution
     50%   11.50ms
     75%   13.00ms
     90%   15.00ms
     99%    1.20s
  4100 requests in 5.01s, 1.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    818.36
Transfer/sec:    245.00KB
"""

IMPORTTIME = """import time: self [us] | cumulative | imported package
import time:       120 |        120 |   _io
import time:      2000 |      52000 |   fastapi
import time:       300 |        300 |     fastapi.types
import time:      5000 |     900000 | my_app_web.endpoint
"""


def test_wrk_report_gives_rate_latency_errors_and_requests() -> None:
    run = parse_wrk("me", WRK_REPORT, wall_seconds=5.0, client_cpu_seconds=2.5)

    assert run.requests_per_second == pytest.approx(818.36)
    assert run.p50_ms == pytest.approx(11.5)
    assert run.p99_ms == pytest.approx(1200.0)  # seconds read as milliseconds
    assert (run.errors, run.socket_errors, run.requests) == (7, 5, 4100)
    assert run.client_cpu_seconds / run.wall_seconds == pytest.approx(0.5)


def test_importtime_top_is_sorted_by_cumulative_time() -> None:
    top = suite.importtime_top(IMPORTTIME, limit=2)

    assert [entry["module"] for entry in top] == ["my_app_web.endpoint", "fastapi"]
    assert top[0]["cumulative_ms"] == pytest.approx(900.0)
    assert top[1]["self_ms"] == pytest.approx(2.0)


def test_options_default_to_every_section_but_sockets() -> None:
    options = suite.parse_args([])
    quick = suite.parse_args(["--quick", "--only", "jobs,http", "--sockets"])

    assert options.sections == ("startup", "http", "jobs")
    assert (options.seconds, options.rounds, options.connections) == (5, 3, 32)
    assert quick.sections == ("http", "jobs", "sockets")  # always in the suite's order
    assert (quick.seconds, quick.rounds, quick.jobs) == (2, 1, 1_000)


def test_an_unknown_section_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        suite.parse_args(["--only", "http,disk"])

    assert "--only takes a comma-separated list of startup, http, jobs, sockets" in capsys.readouterr().err


def test_without_wrk_the_http_section_says_how_to_install_it(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "COLUMNS": "200"}  # no wrk there
    result = subprocess.run(
        [sys.executable, "-m", "bench.suite", "--only", "http", "--results-dir", str(tmp_path)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "wrk is not installed: the HTTP section is skipped (Debian: apt install wrk)" in result.stdout
    (written,) = tmp_path.glob("*.json")
    body = json.loads(written.read_text())
    assert body["figures"] == []
    assert body["setup"]["wrk"] == "wrk: not installed"


def test_a_figure_that_could_not_be_measured_is_written_as_null(tmp_path: Path) -> None:
    report = suite.Report(started=datetime.now(UTC), options=suite.parse_args(["--results-dir", str(tmp_path)]))
    report.add(suite.Figure("http", "GET /health", math.nan, "req/s", "–", ratio=math.nan))

    body = json.loads(suite.write_json(report).read_text())

    assert body["figures"][0]["value"] is None
    assert body["figures"][0]["ratio"] is None


def test_a_tiny_run_of_startup_and_jobs_prints_their_figures(tmp_path: Path) -> None:
    """The sections that need PostgreSQL but not wrk, at the smallest size (about 30 s)."""
    server = database.resolve(Settings())  # the test run's server: DATABASE_URL's or the embedded one
    prefix = f"bench_suite_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": server.url, "COLUMNS": "200"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.suite",
            "--quick",
            "--only",
            "startup,jobs",
            "--startups",
            "1",
            "--jobs",
            "50",
            "--db-prefix",
            prefix,
            "--results-dir",
            str(tmp_path),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "spawn → /ready 200" in result.stdout
    (written,) = tmp_path.glob("*.json")
    figures = {figure["name"]: figure for figure in json.loads(written.read_text())["figures"]}
    assert figures["myapp server (prod, 1 worker): spawn → /ready 200"]["value"] > 0
    assert figures["no-op jobs through one worker (N=50, concurrency 10)"]["baseline"] > 0
    assert any(name.startswith("python -X importtime") for name in figures)
