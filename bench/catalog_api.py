"""Catalog and blog reads per second through one server worker, beside a bare app on the same SQL.

    .venv/bin/python -m bench.catalog_api [--seconds 10] [--rounds 3] [--connections 32]

Seeds a scratch database (`my_app_bench_catalog`: 1,000 products in 20 categories, one published
post with 20 comments), then runs two servers on it: the app as `myapp server` runs it in
production (uvicorn, one worker, `MYAPP_ENV=prod`, JSON logs at INFO: one access line per
request) and `bench.bare_catalog` (Starlette + psycopg pool + orjson, the same SQL and JSON, no
access log). Both answers are compared first (the same JSON, or the bench stops). After a warm-up,
wrk (`-t2 -c32`, `--latency`) measures each endpoint on each server, alternating which goes
first, for `--rounds` rounds; the table shows the medians.

Targets (issue 11): the product list ≥ 0.60 of bare; the product show (cached by the app) above
bare; the post with comments ≥ 0.60 of bare; p99 < 25 ms at 32 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from bench.accounts_throughput import Run, wrk
from bench.catalog_data import post_with_comments, seed_products
from bench.support import describe_database, free_port, machine, scratch_database, serve
from my_app import database
from my_app.config import Settings

BENCH_DATABASE = "my_app_bench_catalog"
P99_TARGET_MS = 25.0
console = Console(width=150)


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str
    target: float  # ours ÷ bare at least
    target_label: str


def ours(
    db: database.Database, port: int, cache_url: str
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    env = {
        "CACHE_URL": cache_url,  # prod turns mem:// off by default (it cannot know it is the only process)
        "MYAPP_ENV": "prod",
        "DATABASE_URL": db.url,
        "DATABASE_SSL": "disable",  # a local server; prod's default is verify-full
        "SECRET_KEY_BASE": secrets.token_urlsafe(64),
        "APP_HOST": "127.0.0.1",
        "JOBS_IN_SERVER": "false",
    }
    command = [sys.executable, "-m", "my_app.cli", "server", "--port", str(port), "--workers", "1"]
    return serve(command, env, f"http://127.0.0.1:{port}/health", quiet=True)


def bare(db: database.Database, port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "bench.bare_catalog", "--port", str(port)]
    return serve(command, {"DATABASE_URL": db.url}, f"http://127.0.0.1:{port}/api/products?limit=1", quiet=True)


def same_json(ours_root: str, bare_root: str, path: str) -> None:
    mine, theirs = httpx.get(ours_root + path), httpx.get(bare_root + path)
    if mine.status_code != 200 or mine.json() != theirs.json():
        raise SystemExit(f"{path}: the answers differ\n ours: {mine.text[:500]}\n bare: {theirs.text[:500]}")


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="per measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are shown (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--products", type=int, default=1000, help="products to seed (default 1,000)")
    parser.add_argument("--comments", type=int, default=20, help="comments on the post (default 20)")
    parser.add_argument(
        "--cache", default="mem://", help="our CACHE_URL: mem:// (default), redis://127.0.0.1:6379/15, or off"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database afterwards")
    options = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        console.print("[red]wrk is not installed[/red]: apt-get install wrk")
        return 2

    base = Settings(env="dev")
    db = scratch_database(base, BENCH_DATABASE)
    seed_products(db.url, options.products)
    post_id = asyncio.run(
        post_with_comments(Settings(env="dev", database_url=db.url, jobs_in_server=False), options.comments)
    )
    ours_port, bare_port = free_port(), free_port()
    roots = {"ours": f"http://127.0.0.1:{ours_port}", "bare": f"http://127.0.0.1:{bare_port}"}
    runs: dict[tuple[str, str], list[Run]] = {}
    cpu_ms: dict[tuple[str, str], list[float]] = {}
    load = [os.getloadavg()[0]]
    with ours(db, ours_port, options.cache) as ours_process, bare(db, bare_port) as bare_process:
        processes = {"ours": psutil.Process(ours_process.pid), "bare": psutil.Process(bare_process.pid)}
        product_id = httpx.get(roots["bare"] + "/api/products?limit=1").json()["data"][0]["id"]
        endpoints = [
            Endpoint("GET /api/products?limit=20", "/api/products?limit=20", 0.60, "≥ 0.60"),
            Endpoint("GET /api/products/{id}", f"/api/products/{product_id}", 1.00, "> 1.00 (cached)"),
            Endpoint("GET /api/posts/{id} (20 comments)", f"/api/posts/{post_id}", 0.60, "≥ 0.60"),
        ]
        for endpoint in endpoints:
            same_json(roots["ours"], roots["bare"], endpoint.path)
        console.print("the same JSON from both; warming up …")
        for endpoint in endpoints:
            for root in roots.values():
                wrk(root + endpoint.path, seconds=2, connections=options.connections)
        for round_number in range(options.rounds):
            order = ["ours", "bare"] if round_number % 2 == 0 else ["bare", "ours"]
            for endpoint in endpoints:
                for server in order:
                    before = _cpu_seconds(processes[server])
                    run = wrk(roots[server] + endpoint.path, seconds=options.seconds, connections=options.connections)
                    spent = _cpu_seconds(processes[server]) - before
                    runs.setdefault((endpoint.label, server), []).append(run)
                    # CPU per request is the figure a busy machine disturbs least (req/s shares the cores).
                    requests = run.requests_per_second * options.seconds
                    cpu_ms.setdefault((endpoint.label, server), []).append(spent * 1000 / max(requests, 1))
                    console.print(
                        f"round {round_number + 1} {server:4} {endpoint.label}: {run.requests_per_second:,.0f} req/s,"
                        f" p99 {run.p99_ms:.1f} ms, {cpu_ms[(endpoint.label, server)][-1]:.2f} ms CPU/request,"
                        f" non-2xx {run.errors}"
                    )
            load.append(os.getloadavg()[0])
    if not options.keep_db:
        database.drop(db)

    setup = Table("set-up", "", show_header=False)
    setup.add_row("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    setup.add_row("machine", machine())
    setup.add_row("database", describe_database(db, base))
    setup.add_row(
        "ours",
        "myapp server: uvicorn (uvloop, httptools), 1 worker, MYAPP_ENV=prod, JSON access log at INFO,"
        f" CACHE_URL={options.cache}",
    )
    setup.add_row("bare", "bench.bare_catalog: uvicorn (uvloop, httptools), Starlette, psycopg pool 10–15, orjson")
    setup.add_row("data", f"{options.products:,} products, 20 categories, 1 post with {options.comments} comments")
    setup.add_row(
        "load",
        f"wrk -t2 -c{options.connections} -d{options.seconds}s, {options.rounds} interleaved rounds, medians;"
        f" same 2-core machine; load average {' → '.join(f'{value:.1f}' for value in load)}",
    )
    console.print(setup)
    table = Table(
        "endpoint", "ours req/s", "bare req/s", "ratio", "p99 ours / bare ms", "CPU ms/req ours / bare", "target", "met"
    )
    met_all = True
    for endpoint in endpoints:
        mine, theirs = runs[(endpoint.label, "ours")], runs[(endpoint.label, "bare")]
        rate = statistics.median(run.requests_per_second for run in mine)
        bare_rate = statistics.median(run.requests_per_second for run in theirs)
        p99 = statistics.median(run.p99_ms for run in mine)
        bare_p99 = statistics.median(run.p99_ms for run in theirs)
        ratio = rate / bare_rate
        met = (ratio > endpoint.target if endpoint.target >= 1 else ratio >= endpoint.target) and p99 < P99_TARGET_MS
        errors = sum(run.errors for run in mine + theirs)
        met_all = met_all and met and errors == 0
        table.add_row(
            endpoint.label,
            f"{rate:,.0f}",
            f"{bare_rate:,.0f}",
            f"{ratio:.2f}",
            f"{p99:.1f} / {bare_p99:.1f}",
            f"{statistics.median(cpu_ms[(endpoint.label, 'ours')]):.2f} / "
            f"{statistics.median(cpu_ms[(endpoint.label, 'bare')]):.2f}",
            f"{endpoint.target_label}, p99 < {P99_TARGET_MS:.0f} ms",
            ("yes" if met else "no") + (f" ({errors} non-2xx)" if errors else ""),
        )
    console.print(table)
    return 0 if met_all else 1


if __name__ == "__main__":
    sys.exit(main())
