"""What the HTTP edge's telemetry costs a request: the same endpoints with and without it, in one run.

    .venv/bin/python -m bench.telemetry_overhead [--seconds 5] [--rounds 3] [--connections 32]

Three servers on uvicorn (uvloop, httptools), one worker each, on a scratch database
(`my_app_bench_telemetry`, 50 products):
- **with**: the app as `myapp server` runs it in production (`MYAPP_ENV=prod`, JSON logs at INFO):
  the edges (request id, metrics, the access line, security headers, the host check);
- **without**: the same app with no edge middleware (no request id, no metrics, no access line, no
  security headers), everything else equal (`without_telemetry`);
- **hello**: a bare ASGI hello-world, the ceiling of this server on this machine.
wrk (`-t2`, `--latency`) measures `GET /health` and `GET /api/products/{id}` (a cached read) on
with and without, and `GET /` on hello, interleaved over `--rounds`; the table shows medians.

The overhead is the extra time a request of `with` takes, `1/rps(with) - 1/rps(without)`, and the
extra CPU it uses (measured on the server process); as a % of a hello-world request's time
(`1/rps(hello)`), it is how much a hello-world would slow down if it paid it. Target (issue 12): < 10%.

On a shared machine the servers' figures move by more than the edges cost; the last table measures
the edges alone, in this process (CPU time around a trivial app, best of 3), which noise moves less.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import uvicorn
from rich.console import Console
from rich.table import Table

from bench.accounts_throughput import Run, wrk
from bench.catalog_data import seed_products
from bench.support import describe_database, free_port, machine, scratch_database, serve
from my_app import database
from my_app.config import Settings

BENCH_DATABASE = "my_app_bench_telemetry"
TARGET_PERCENT = 10.0
console = Console(width=160)


# --- The servers ---


def without_telemetry() -> Any:
    """The app as `myapp server` builds it, minus the edge middleware (telemetry, headers, host check)."""
    from my_app_web.endpoint import create_app

    app = create_app()
    app.edge_middleware = []  # read when the middleware stack is first built, on the first request
    return app


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest HTTP answer an ASGI app gives: the server's own cost per request."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Hello, world!"})


def run_server(which: str, port: int) -> None:
    """uvicorn as `myapp server` runs it (`my_app.cli.server`): no uvicorn access log, its own logging."""
    target: Any = without_telemetry if which == "without" else hello
    uvicorn.run(
        target,
        factory=which == "without",
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # as `myapp server`: the app trusts forwarded headers itself
        ws_ping_interval=None,
    )


def app_env(db: database.Database) -> dict[str, str]:
    return {
        "MYAPP_ENV": "prod",
        "DATABASE_URL": db.url,
        "DATABASE_SSL": "disable",  # a local server; prod's default is verify-full
        "SECRET_KEY_BASE": secrets.token_urlsafe(64),
        "APP_HOST": "127.0.0.1",
        "JOBS_IN_SERVER": "false",
        "CACHE_URL": "mem://",  # prod turns mem:// off by default (it cannot know it is the only process)
        "LOG_LEVEL": "INFO",
    }


@contextlib.contextmanager
def servers(db: database.Database) -> Iterator[dict[str, tuple[str, psutil.Process]]]:
    ports = {name: free_port() for name in ("with", "without", "hello")}
    env = app_env(db)
    ours = [sys.executable, "-m", "bench.telemetry_overhead", "--serve"]
    commands = {
        "with": [sys.executable, "-m", "my_app.cli", "server", "--port", str(ports["with"]), "--workers", "1"],
        "without": [*ours, "without", "--port", str(ports["without"])],
        "hello": [*ours, "hello", "--port", str(ports["hello"])],
    }
    ready = {"with": "/health", "without": "/health", "hello": "/"}
    with contextlib.ExitStack() as stack:
        running: dict[str, tuple[str, psutil.Process]] = {}
        for name, command in commands.items():
            root = f"http://127.0.0.1:{ports[name]}"
            # quiet: the access log is written (to /dev/null), as a production log is, and not read.
            process = stack.enter_context(serve(command, env, root + ready[name], quiet=True))
            running[name] = (root, psutil.Process(process.pid))
        yield running


# --- In-process: the edges' own CPU per request, without the machine's noise ---


async def _hello_json(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})


def edges_cpu_us(requests: int = 30_000) -> dict[str, float]:
    """CPU µs a request spends in each edge middleware around a trivial app (best of 3, this process,
    the log writer thread included: its JSON lines go to /dev/null)."""
    import asyncio
    import io

    from my_app import log
    from my_app_web.plugs.security_headers import SecurityHeadersMiddleware
    from my_app_web.plugs.trusted_host import TrustedHostMiddleware, TrustedHosts
    from my_app_web.telemetry import Telemetry

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    def scope() -> dict[str, Any]:
        headers = [(b"host", b"127.0.0.1:4000"), (b"accept", b"*/*"), (b"user-agent", b"wrk")]
        return {"type": "http", "method": "GET", "path": "/health", "query_string": b"", "headers": headers}

    async def cpu_per_request(app: Any, level: str) -> float:
        log.configure(Settings(log_format="json", log_level=level))
        for handler in log._listener.handlers if log._listener else ():
            handler.setStream(io.StringIO())
        started = time.process_time()
        for _ in range(requests):
            await app(scope(), receive, send)
        log.written()
        return (time.process_time() - started) / requests * 1e6

    async def measure_all() -> dict[str, float]:
        apps = {
            "bare": (_hello_json, "INFO"),
            "telemetry (id, metrics, access line)": (Telemetry(_hello_json), "INFO"),
            # LOG_LEVEL=WARNING: what the id and the metrics cost without the access line.
            "telemetry, access line off (LOG_LEVEL=WARNING)": (Telemetry(_hello_json), "WARNING"),
            "security headers": (SecurityHeadersMiddleware(_hello_json, hsts=True), "INFO"),
            "host check": (TrustedHostMiddleware(_hello_json, TrustedHosts(["127.0.0.1"])), "INFO"),
        }
        best = {name: min([await cpu_per_request(app, level) for _ in range(3)]) for name, (app, level) in apps.items()}
        return {name: value - best["bare"] if name != "bare" else value for name, value in best.items()}

    return asyncio.run(measure_all())


# --- The measurement ---


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(root: str, process: psutil.Process, path: str, seconds: int, connections: int) -> tuple[Run, float]:
    """wrk on `root + path`; the run, and the server's CPU milliseconds per request."""
    before = _cpu_seconds(process)
    run = wrk(root + path, seconds=seconds, connections=connections)
    spent = _cpu_seconds(process) - before
    return run, spent * 1000 / max(run.requests_per_second * seconds, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are shown (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--serve", choices=["without", "hello"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve:
        run_server(options.serve, options.port)
        return 0
    if shutil.which("wrk") is None:
        console.print("[red]wrk is not installed[/red]: apt-get install wrk")
        return 2

    base = Settings(env="dev")
    db = scratch_database(base, BENCH_DATABASE)
    seed_products(db.url, 50)
    load = [os.getloadavg()[0]]
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    p99: dict[tuple[str, str], list[float]] = {}
    with servers(db) as running:
        product_id = httpx.get(running["without"][0] + "/api/products?limit=1").json()["data"][0]["id"]
        endpoints = {"GET /health": "/health", "GET /api/products/{id}": f"/api/products/{product_id}"}
        series = [(label, server, path) for label, path in endpoints.items() for server in ("with", "without")]
        series.append(("GET / (hello-world)", "hello", "/"))
        console.print("warming up …")
        for _label, server, path in series:
            root, _ = running[server]
            wrk(root + path, seconds=2, connections=options.connections)
        for round_number in range(options.rounds):
            ordered = series if round_number % 2 == 0 else list(reversed(series))
            for label, server, path in ordered:
                root, process = running[server]
                run, cpu_ms = measure(root, process, path, options.seconds, options.connections)
                rates.setdefault((label, server), []).append(run.requests_per_second)
                cpu.setdefault((label, server), []).append(cpu_ms)
                p99.setdefault((label, server), []).append(run.p99_ms)
                console.print(
                    f"round {round_number + 1} {server:7} {label}: {run.requests_per_second:,.0f} req/s,"
                    f" p99 {run.p99_ms:.1f} ms, {cpu_ms * 1000:.0f} µs CPU/request, non-2xx {run.errors}"
                )
            load.append(os.getloadavg()[0])
    if not options.keep_db:
        database.drop(db)

    def median(values: dict[tuple[str, str], list[float]], label: str, server: str) -> float:
        return statistics.median(values[(label, server)])

    hello_label = "GET / (hello-world)"
    hello_rate = median(rates, hello_label, "hello")
    hello_us = 1e6 / hello_rate
    hello_cpu_us = median(cpu, hello_label, "hello") * 1000

    setup = Table("set-up", "", show_header=False)
    setup.add_row("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    setup.add_row("machine", machine())
    setup.add_row("database", describe_database(db, base))
    setup.add_row("with", "myapp server, 1 worker, MYAPP_ENV=prod, JSON access log at INFO, metrics, edge headers")
    setup.add_row("without", "the same app without edge middleware (no request id, metrics, access line, headers)")
    setup.add_row("hello", f"bare ASGI hello-world on uvicorn: {hello_rate:,.0f} req/s, {hello_cpu_us:.0f} µs CPU/req")
    setup.add_row(
        "load",
        f"wrk -t2 -c{options.connections} -d{options.seconds}s, {options.rounds} interleaved rounds, medians;"
        f" load average {' → '.join(f'{value:.1f}' for value in load)}",
    )
    console.print(setup)
    table = Table(
        "endpoint",
        "with req/s",
        "without req/s",
        "with ÷ without",
        "p99 with / without ms",
        "extra µs/req (time)",
        "extra µs/req (CPU)",
        "% of hello-world (time / CPU)",
        "met (< 10%)",
    )
    met_all = True
    for label in endpoints:
        rate, bare_rate = median(rates, label, "with"), median(rates, label, "without")
        extra_us = 1e6 / rate - 1e6 / bare_rate
        extra_cpu_us = (median(cpu, label, "with") - median(cpu, label, "without")) * 1000
        percent, cpu_percent = 100 * extra_us / hello_us, 100 * extra_cpu_us / hello_cpu_us
        met = cpu_percent < TARGET_PERCENT
        met_all = met_all and met
        table.add_row(
            label,
            f"{rate:,.0f}",
            f"{bare_rate:,.0f}",
            f"{rate / bare_rate:.3f}",
            f"{median(p99, label, 'with'):.1f} / {median(p99, label, 'without'):.1f}",
            f"{extra_us:.1f}",
            f"{extra_cpu_us:.1f}",
            f"{percent:.1f}% / {cpu_percent:.1f}%",
            "yes" if met else "no",
        )
    console.print(table)
    edges = edges_cpu_us()
    micro = Table("in-process, CPU µs/request (best of 3)", "µs", "% of hello-world's CPU/request")
    for name, value in edges.items():
        micro.add_row(name, f"{value:.1f}", "" if name == "bare" else f"{100 * value / hello_cpu_us:.1f}%")
    total = sum(value for name, value in edges.items() if name != "bare" and "off" not in name)
    micro.add_row("all edges", f"{total:.1f}", f"{100 * total / hello_cpu_us:.1f}%")
    console.print(micro)
    return 0 if met_all else 1


if __name__ == "__main__":
    sys.exit(main())
