"""Log-ins per second and `GET /api/users/me` per second through one server process.

    .venv/bin/python -m bench.accounts_throughput [--seconds 10] [--connections 32]

The server runs as in production (uvicorn, one worker process, bcrypt at the configured cost) on a
scratch database; wrk, written in C, is the load client so the client is not what saturates. The
baseline is `GET /health` (no database, no auth) measured in the same run on the same server: the
ratios show what authentication and the user lookup cost.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from rich.console import Console
from rich.table import Table

from bench.support import describe_database, free_port, machine, scratch_database, server_process
from my_app import accounts, application, database
from my_app.config import Settings

BENCH_DATABASE = "my_app_bench_accounts"
EMAIL = "bench@example.com"
PASSWORD = "a long benchmark passphrase"  # noqa: S105 - a throwaway account in a scratch database
console = Console()


@dataclass(frozen=True)
class Run:
    label: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers
    requests: int = 0
    socket_errors: int = 0  # connect, read, write errors and timeouts
    wall_seconds: float = math.nan
    client_cpu_seconds: float = math.nan  # wrk's own CPU time (user + system): is the load generator the limit?


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    script: Path | None = None,
    header: str | None = None,
    threads: int = 2,
    timeout: float | None = None,
) -> Run:
    """One wrk run against `url`: its rates, latency percentiles, errors, and the CPU wrk itself used."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if header:
        command += ["-H", header]
    if script:
        command += ["-s", str(script)]
    if timeout:
        command += ["--timeout", f"{timeout}s"]
    # Files, not pipes: wrk is waited for with wait4 (for its CPU time) before its output is read.
    with tempfile.TemporaryFile() as output_file, tempfile.TemporaryFile() as error_file:
        started = time.monotonic()
        process = subprocess.Popen([*command, url], stdout=output_file, stderr=error_file)
        # wait4 reaps wrk and returns its resource usage: the CPU the load generator spent.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        if process.returncode != 0:
            error_file.seek(0)
            raise subprocess.CalledProcessError(process.returncode, command, stderr=error_file.read().decode())
        output_file.seek(0)
        output = output_file.read().decode(errors="replace")
    return parse_wrk(url, output, wall_seconds=wall, client_cpu_seconds=usage.ru_utime + usage.ru_stime)


def parse_wrk(label: str, output: str, *, wall_seconds: float = math.nan, client_cpu_seconds: float = math.nan) -> Run:
    """The figures of wrk's `--latency` report."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    total = re.search(r"(\d+) requests in", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return Run(
        label,
        rate,
        _percentile(output, "50%"),
        _percentile(output, "99%"),
        errors,
        requests=int(total.group(1)) if total else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        wall_seconds=wall_seconds,
        client_cpu_seconds=client_cpu_seconds,
    )


def _percentile(output: str, label: str) -> float:
    match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


async def make_user(settings: Settings) -> str:
    async with application.lifespan(settings, run_jobs=False):
        user = await accounts.create_user({"email": EMAIL, "name": "Bench", "password": PASSWORD})
        return await accounts.create_api_token(user)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="per measurement (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections for reads (default 32)")
    parser.add_argument("--login-connections", type=int, default=4, help="wrk connections for log-ins (default 4)")
    options = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        console.print("[red]wrk is not installed[/red]: apt-get install wrk")
        return 2

    base = Settings(env="dev")
    db = scratch_database(base, BENCH_DATABASE)
    bench_settings = Settings(env="dev", database_url=db.url, jobs_in_server=False)
    token = asyncio.run(make_user(bench_settings))
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        login_script = Path(folder) / "login.lua"
        login_script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.body = \'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}\'\n'
        )
        # Log-ins are limited to 5 failures per 5 minutes; these succeed, but keep the limiter out anyway.
        with server_process(db, port, RATE_LIMIT_LOGIN="1000000/minute"):
            console.print(f"warming up {root} …")
            wrk(f"{root}/health", seconds=2, connections=options.connections)
            health = wrk(f"{root}/health", seconds=options.seconds, connections=options.connections)
            me = wrk(
                f"{root}/api/users/me",
                seconds=options.seconds,
                connections=options.connections,
                header=f"Authorization: Bearer {token}",
            )
            login = wrk(
                f"{root}/api/sessions",
                seconds=options.seconds,
                connections=options.login_connections,
                script=login_script,
            )
    database.drop(db)

    rounds = bench_settings.bcrypt_rounds
    setup = Table("set-up", "", show_header=False)
    setup.add_row("machine", machine())
    setup.add_row("database", describe_database(db, base))
    setup.add_row("server", "myapp server: uvicorn, 1 worker process, MYAPP_ENV=dev, job workers off")
    setup.add_row(
        "load client",
        f"wrk -t2, {options.connections} connections (log-ins: {options.login_connections}), "
        f"{options.seconds} s each, same machine (2 cores shared with the server)",
    )
    setup.add_row("bcrypt", f"cost {rounds} (bcrypt {bcrypt.__version__}); each log-in verifies one hash")
    console.print(setup)
    results = Table("request", "req/s", "p50 ms", "p99 ms", "non-2xx", "÷ /health req/s")
    for label, run in (("GET /health (baseline)", health), ("GET /api/users/me", me), ("POST /api/sessions", login)):
        results.add_row(
            label,
            f"{run.requests_per_second:,.0f}",
            f"{run.p50_ms:.2f}",
            f"{run.p99_ms:.2f}",
            str(run.errors),
            f"{run.requests_per_second / health.requests_per_second:.3f}",
        )
    console.print(results)
    console.print(
        f"The figures: GET /api/users/me {me.requests_per_second:,.0f} req/s "
        f"({me.requests_per_second / health.requests_per_second:.2f} of /health); "
        f"log-in {login.requests_per_second:,.1f} req/s at bcrypt cost {rounds}"
    )
    return 0 if me.errors == 0 and login.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
