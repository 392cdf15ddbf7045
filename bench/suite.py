"""The benchmark suite (issue 15): every figure beside its baseline, measured in the same run, in one table.

    make bench                                  # python -m bench.suite: about 5 minutes
    .venv/bin/python -m bench.suite --quick     # about 1.5 minutes: shorter runs, one round
    .venv/bin/python -m bench.suite --only http,jobs --seconds 5 --rounds 3
    .venv/bin/python -m bench.suite --soak 10   # + 10 minutes of the HTTP mix: does the RSS grow?
    .venv/bin/python -m bench.suite --sockets   # + the channels figures (bench.channels_scale, ~8 minutes)

Sections (`--only` picks some; `sockets` runs only when asked):

- `startup`: `myapp server` (prod settings, one worker) from spawn to `/ready` 200, median of 3,
  with PostgreSQL up; `python -X importtime -c "import my_app_web.endpoint"` (top 10 in the JSON).
- `http`: a seeded scratch database (1,000 products, 1,000 users, one of them an admin) and four
  servers side by side: ours as production runs it (`myapp server`, `MYAPP_ENV=prod`, one worker,
  and another with `--workers 2`), the bare app (`bench.bare_catalog`: Starlette + psycopg pool +
  orjson, the same SQL and the same JSON, checked before measuring) and a bare ASGI hello-world.
  wrk (`-t2 -c32`, keep-alive) after a warm-up, rounds interleaved, medians. Also the memory of
  our worker: RSS after the warm-up, after the measured mix, and after `--soak` minutes of it.
- `jobs`: `bench.jobs_throughput`'s run (no-op jobs through one worker, enqueues, plain inserts).
- `sockets`: `bench.channels_scale`'s scenarios with the issue's numbers (20,000 sockets).

It prints one set-up line and one table, and writes every figure (and every wrk run) to
`bench/results/<UTC timestamp>.json`. On a shared machine, read the ratios and the CPU per request:
the load average before and after is in the set-up line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import orjson
import psutil
import psycopg
import uvloop
from rich.console import Console
from rich.table import Table

from bench.accounts_throughput import Run, wrk
from bench.catalog_data import admin_token, seed_products
from bench.support import PROJECT_ROOT, free_port, machine, scratch_database, serve, stop
from my_app import accounts, application, database
from my_app.config import Settings

SECTIONS = ("startup", "http", "jobs", "sockets")
DEFAULT_SECTIONS = ("startup", "http", "jobs")
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
PASSWORD = "a long benchmark passphrase"  # noqa: S105 - throwaway accounts in a scratch database
MEMBER_EMAIL = "bench-user-0001@example.com"

# The targets.
READ_RATIO_TARGET = 0.60
HEALTH_RATIO_TARGET = 0.80
P99_TARGET_MS = 25.0
WORKERS_2_TARGET = 1.7
JOBS_PER_SECOND_TARGET = 1_000.0
ENQUEUE_RATIO_TARGET = 0.70
STARTUP_TARGET_SECONDS = 1.5
RSS_GROWTH_TARGET = 1.10
SOCKETS_TARGET = 20_000
KB_PER_SOCKET_TARGET = 30.0
BROADCAST_P99_TARGET_S = 1.0
PRESENCE_BUDGET_S = 60.0
LOGIN_MIN_SECONDS = 4

console = Console(width=None if sys.stdout.isatty() else 220)


# --- Options ---


@dataclass(frozen=True)
class Options:
    sections: tuple[str, ...]
    quick: bool
    seconds: int
    rounds: int
    warmup: int
    connections: int
    login_connections: int
    products: int
    users: int
    jobs: int
    startups: int
    soak_minutes: float
    socket_count: int
    db_prefix: str
    keep_db: bool
    results_dir: Path


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.suite", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs: 2 s per wrk run, one round, 1,000 jobs")
    parser.add_argument(
        "--only", default=None, help=f"comma-separated sections of {', '.join(SECTIONS)} (default: all but sockets)"
    )
    parser.add_argument("--sockets", action="store_true", help="add the sockets section (about 8 minutes)")
    parser.add_argument("--seconds", type=int, default=None, help="per wrk run (default 5; --quick 2)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds, medians shown (3; --quick 1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections for the reads (default 32)")
    parser.add_argument(
        "--login-connections", type=int, default=4, help="wrk connections for POST /api/sessions (default 4)"
    )
    parser.add_argument("--products", type=int, default=1_000, help="products seeded (default 1,000)")
    parser.add_argument("--users", type=int, default=1_000, help="users seeded, the admin included (default 1,000)")
    parser.add_argument("--jobs", type=int, default=None, help="jobs for the jobs section (5,000; --quick 1,000)")
    parser.add_argument("--startups", type=int, default=3, help="server starts timed, median shown (default 3)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="MINUTES", help="minutes of the HTTP mix (off)")
    parser.add_argument("--socket-count", type=int, default=SOCKETS_TARGET, help=argparse.SUPPRESS)
    parser.add_argument(
        "--db-prefix", default="my_app_bench_suite", help="scratch databases are <prefix>_http, _jobs, ..."
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch databases afterwards")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        sections = tuple(name.strip() for name in args.only.split(",") if name.strip())
        unknown = [name for name in sections if name not in SECTIONS]
        if unknown or not sections:
            parser.error(f"--only takes a comma-separated list of {', '.join(SECTIONS)}")
    else:
        sections = DEFAULT_SECTIONS
    if args.sockets and "sockets" not in sections:
        sections = (*sections, "sockets")
    options = Options(
        sections=tuple(name for name in SECTIONS if name in sections),
        quick=args.quick,
        seconds=args.seconds or (2 if args.quick else 5),
        rounds=args.rounds or (1 if args.quick else 3),
        warmup=1 if args.quick else 2,
        connections=args.connections,
        login_connections=args.login_connections,
        products=args.products,
        users=args.users,
        jobs=args.jobs or (1_000 if args.quick else 5_000),
        startups=args.startups,
        soak_minutes=args.soak,
        socket_count=args.socket_count,
        db_prefix=args.db_prefix,
        keep_db=args.keep_db,
        results_dir=args.results_dir,
    )
    if min(options.seconds, options.rounds, options.connections, options.login_connections, options.startups) < 1:
        parser.error("--seconds, --rounds, --connections, --login-connections and --startups must be at least 1")
    if options.users < 2 or options.products < 1 or options.jobs < 1:
        parser.error("--users must be at least 2, --products and --jobs at least 1")
    return options


# --- What the suite reports ---


@dataclass
class Figure:
    """One row of the table: a figure, its baseline from the same run, the ratio and the issue's target."""

    section: str
    name: str
    value: float
    unit: str
    shown: str  # the value as the table shows it
    baseline: float | None = None
    baseline_shown: str = "–"
    ratio: float | None = None
    target: str = "–"
    met: bool | None = None  # None: no target, or not measurable in this run
    client_cpu: float | None = None  # wrk's CPU seconds per second of its runs (1.0 = one core)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    started: datetime
    options: Options
    setup: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # per-section raw data for the JSON file
    failed: bool = False

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def note(self, text: str, *, failure: bool = False) -> None:
        self.notes.append(text)
        self.failed = self.failed or failure
        console.print(f"[red]{text}[/red]" if failure else f"[yellow]{text}[/yellow]")


def _median(values: list[float]) -> float:
    finite = [value for value in values if not math.isnan(value)]
    return statistics.median(finite) if finite else math.nan


def _yes_no(met: bool | None) -> str:
    return "–" if met is None else "[green]yes[/green]" if met else "[red]no[/red]"


def _format_ratio(ratio: float | None) -> str:
    return "–" if ratio is None or math.isnan(ratio) else f"{ratio:.2f}"


def _format_client_cpu(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f} core"


def render(report: Report) -> None:
    """The set-up line and the one table."""
    setup = report.setup
    load = setup.get("load_average", {})
    console.print(
        f"[bold]{setup.get('date', '?')}[/bold] · {setup.get('machine', '?')} · {setup.get('postgresql', '?')} · "
        f"load average (1, 5, 15 min) {load.get('before', '?')} before, {load.get('after', '?')} after · "
        f"{setup.get('wrk', 'wrk: –')} · sections {', '.join(report.options.sections)} · "
        f"took {setup.get('seconds', 0):.0f} s",
        highlight=False,
    )
    table = Table(
        "section", "figure", "ours", "baseline (same run)", "ratio", "target", "met", "wrk CPU", title_justify="left"
    )
    for figure in report.figures:
        table.add_row(
            figure.section,
            figure.name,
            figure.shown,
            figure.baseline_shown,
            _format_ratio(figure.ratio),
            figure.target,
            _yes_no(figure.met),
            _format_client_cpu(figure.client_cpu),
        )
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)


def write_json(report: Report) -> Path:
    report.options.results_dir.mkdir(parents=True, exist_ok=True)
    path = report.options.results_dir / f"{report.started.strftime('%Y-%m-%dT%H-%M-%SZ')}.json"
    options = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(report.options).items()}
    body = {
        "setup": report.setup,
        "options": options,
        "figures": [asdict(figure) for figure in report.figures],
        "notes": report.notes,
        "sections": report.data,
    }
    # orjson writes NaN as null: the file stays valid JSON.
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    return path


# --- Processes and measurements shared by the sections ---


def tree_cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds of a server process and its workers (uvicorn's `--workers` children)."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def rss_bytes(process: psutil.Process) -> int:
    return int(process.memory_info().rss)


def prod_env(db: database.Database, **extra: str) -> dict[str, str]:
    """The environment of `myapp server` as production runs it, on a local scratch database."""
    return {
        "MYAPP_ENV": "prod",  # JSON logs at INFO: one access line per request, written (to /dev/null)
        "DATABASE_URL": db.url,
        "DATABASE_SSL": "disable",  # a local server; prod's default is verify-full
        "SECRET_KEY_BASE": secrets.token_urlsafe(64),
        "APP_HOST": "127.0.0.1",
        "JOBS_IN_SERVER": "false",
        "WEB_CONCURRENCY": "1",
        **extra,
    }


def ours_command(port: int, workers: int) -> list[str]:
    # `myapp server` is this module's console script: the same entry point.
    return [sys.executable, "-m", "my_app.cli", "server", "--port", str(port), "--workers", str(workers)]


def postgres_version(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "wrk: not installed"
    result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"wrk (\S+)", result.stdout + result.stderr)
    return f"wrk {match.group(1) if match else '?'}"


@contextlib.contextmanager
def scratch(options: Options, suffix: str, base: Settings, report: Report) -> Iterator[database.Database]:
    """A fresh, migrated `<prefix>_<suffix>` database, dropped at the end unless --keep-db."""
    db = scratch_database(base, f"{options.db_prefix}_{suffix}")
    report.setup.setdefault("postgresql", postgres_version(db.url))
    report.setup.setdefault("database", f"{database.with_database(db.url, '…')} (scratch databases)")
    try:
        yield db
    finally:
        if not options.keep_db:
            database.drop(db)


# --- startup: spawn to /ready, and the import time ---


IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def importtime_top(stderr: str, limit: int = 10) -> list[dict[str, Any]]:
    """The `limit` imports with the largest cumulative time in `python -X importtime`'s report."""
    entries = [
        {"module": match.group(4), "self_ms": int(match.group(1)) / 1000, "cumulative_ms": int(match.group(2)) / 1000}
        for match in map(IMPORTTIME_LINE.match, stderr.splitlines())
        if match
    ]
    return sorted(entries, key=lambda entry: -entry["cumulative_ms"])[:limit]


def measure_importtime(module: str = "my_app_web.endpoint") -> tuple[float, list[dict[str, Any]]]:
    """Seconds of `python -c "import <module>"` (wall, the interpreter's start included) and its top imports."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.monotonic() - started, importtime_top(result.stderr)


def time_to_ready(db: database.Database, timeout: float = 60) -> float:
    """Seconds from spawning `myapp server` (prod, one worker) to its first `/ready` 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/ready"
    env = {**os.environ, **prod_env(db)}
    started = time.monotonic()
    process = subprocess.Popen(
        ours_command(port, 1), cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with httpx.Client(timeout=1) as client:
            while time.monotonic() - started < timeout:
                if process.poll() is not None:
                    raise RuntimeError(f"myapp server exited with {process.returncode} before /ready answered")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        return time.monotonic() - started
                time.sleep(0.01)
        raise TimeoutError(f"{url} did not answer 200 within {timeout} s")
    finally:
        stop(process)


def startup_section(options: Options, base: Settings, report: Report) -> None:
    with scratch(options, "startup", base, report) as db:
        console.print(f"startup: timing {options.startups} starts of myapp server to /ready 200 …")
        times = [time_to_ready(db) for _ in range(options.startups)]
    median = statistics.median(times)
    report.add(
        Figure(
            "startup",
            "myapp server (prod, 1 worker): spawn → /ready 200",
            median,
            "s",
            f"{median:.2f} s (median of {len(times)}: {', '.join(f'{t:.2f}' for t in times)})",
            target=f"< {STARTUP_TARGET_SECONDS} s",
            met=median < STARTUP_TARGET_SECONDS,
            detail={"seconds": times},
        )
    )
    wall, top = measure_importtime()
    root = next((entry for entry in top if entry["module"] == "my_app_web.endpoint"), None)
    biggest = [entry for entry in top if entry["module"] != "my_app_web.endpoint"][:4]
    shown = ", ".join(f"{entry['module']} {entry['cumulative_ms']:.0f}" for entry in biggest)
    report.add(
        Figure(
            "startup",
            'python -X importtime -c "import my_app_web.endpoint"',
            root["cumulative_ms"] if root else math.nan,
            "ms",
            f"{root['cumulative_ms'] if root else math.nan:,.0f} ms of imports ({wall:.2f} s with the interpreter);"
            f" largest (cumulative ms): {shown}",
            detail={"top10": top, "wall_seconds": wall},
        )
    )
    report.data["startup"] = {"ready_seconds": times, "importtime_top10": top, "import_wall_seconds": wall}


# --- http: ours beside the bare app and a hello-world ---


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    path: str
    bare_path: str | None  # None: no bare twin (the hello-world is /health's baseline)
    header: str | None = None
    script: Path | None = None
    read: bool = True
    login: bool = False


@dataclass
class Series:
    """The wrk runs of one endpoint on one server, with the server's CPU per request for each."""

    runs: list[Run] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return _median([run.requests_per_second for run in self.runs])

    @property
    def p99(self) -> float:
        return _median([run.p99_ms for run in self.runs])

    @property
    def cpu_per_request(self) -> float:
        return _median(self.cpu_ms)

    @property
    def client_cpu(self) -> float:
        return _median([run.client_cpu_seconds / run.wall_seconds for run in self.runs])

    @property
    def errors(self) -> int:
        return sum(run.errors + run.socket_errors for run in self.runs)


@dataclass(frozen=True)
class Server:
    name: str
    root: str
    process: psutil.Process


@dataclass(frozen=True)
class Accounts:
    member_token: str
    admin_token: str
    bcrypt_cost: int


_USERS = """
INSERT INTO users (id, email, name, hashed_password, role, confirmed_at, inserted_at, updated_at)
SELECT gen_random_uuid(), 'bench-user-' || lpad(n::text, 4, '0') || '@example.com', 'Bench User ' || n,
       %(hashed)s, 'user', now() - make_interval(secs => %(count)s - n),
       now() - make_interval(secs => %(count)s - n), now() - make_interval(secs => %(count)s - n)
FROM generate_series(1, %(count)s) AS n
"""


def seed_users(db: database.Database, count: int) -> Accounts:
    """An admin (through the Accounts context) and `count` - 1 users in one statement, all with the
    same password hashed at the configured bcrypt cost; API tokens for the admin and for one user."""
    settings = Settings(env="dev", database_url=db.url, jobs_in_server=False)
    cost = settings.bcrypt_rounds or 12
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost)).decode()
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(_USERS, {"hashed": hashed, "count": count - 1})
        conn.execute("ANALYZE users")

    async def tokens() -> tuple[str, str]:
        admin = await admin_token(settings)
        async with application.lifespan(settings, run_jobs=False):
            member = await accounts.get_user_by_email(MEMBER_EMAIL)
            if member is None:
                raise RuntimeError(f"{MEMBER_EMAIL} was not seeded")
            return await accounts.create_api_token(member), admin

    member, admin = asyncio.run(tokens())
    return Accounts(member_token=member, admin_token=admin, bcrypt_cost=cost)


def _request(root: str, endpoint: Endpoint, path: str) -> httpx.Response:
    headers = dict([endpoint.header.split(": ", 1)]) if endpoint.header else {}
    if endpoint.login:
        return httpx.post(root + path, json={"email": MEMBER_EMAIL, "password": PASSWORD}, timeout=30)
    return httpx.get(root + path, headers=headers, timeout=30)


def differs(ours: Server, bare: Server, endpoint: Endpoint) -> str | None:
    """Why our answer and the bare app's differ (status or JSON), or None when they are the same."""
    assert endpoint.bare_path is not None
    mine, theirs = _request(ours.root, endpoint, endpoint.path), _request(bare.root, endpoint, endpoint.bare_path)
    if mine.status_code != theirs.status_code or not 200 <= mine.status_code < 300:
        return f"status {mine.status_code} (ours) vs {theirs.status_code} (bare): {mine.text[:300]}"
    left, right = mine.json(), theirs.json()
    if endpoint.login:
        # Each log-in makes a new token: compare its shape, then everything else.
        tokens = left["data"].pop("token", None), right["data"].pop("token", None)
        if not all(isinstance(token, str) and len(token) == len(tokens[0] or "") for token in tokens):
            return f"the tokens differ in shape: {tokens}"
    if left != right:
        return f"the JSON differs\n ours: {mine.text[:400]}\n bare: {theirs.text[:400]}"
    return None


def endpoints_for(product_id: str, seeded: Accounts, login_script: Path) -> list[Endpoint]:
    member = f"Authorization: Bearer {seeded.member_token}"
    admin = f"Authorization: Bearer {seeded.admin_token}"
    product = f"/api/products/{product_id}"
    return [
        Endpoint("products", "GET /api/products?limit=20", "/api/products?limit=20", "/api/products?limit=20"),
        Endpoint("product", "GET /api/products/{id}", product, product),
        Endpoint("me", "GET /api/users/me (bearer)", "/api/users/me", "/api/users/me", header=member),
        Endpoint(
            "users", "GET /api/users?limit=20 (admin)", "/api/users?limit=20", "/api/users?limit=20", header=admin
        ),
        Endpoint(
            "sessions",
            "POST /api/sessions",
            "/api/sessions",
            "/api/sessions",
            script=login_script,
            read=False,
            login=True,
        ),
        Endpoint("health", "GET /health", "/health", None),
    ]


def login_lua(path: Path) -> Path:
    body = orjson.dumps({"email": MEMBER_EMAIL, "password": PASSWORD}).decode()
    path.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = \'{body}\'\n')
    return path


class Measurer:
    """wrk against one server's endpoint, with the server's CPU per request and wrk's own CPU."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.series: dict[tuple[str, str], Series] = {}

    def run(self, server: Server, endpoint: Endpoint, path: str, *, seconds: int, record: bool = True) -> Run:
        connections = self.options.login_connections if endpoint.login else self.options.connections
        before = tree_cpu_seconds(server.process)
        run = wrk(
            server.root + path,
            # A log-in takes a quarter of a second of bcrypt: give it time for more than a handful.
            seconds=max(seconds, LOGIN_MIN_SECONDS) if endpoint.login else seconds,
            connections=connections,
            header=endpoint.header,
            script=endpoint.script,
            timeout=10 if endpoint.login else None,  # a log-in waits its turn behind bcrypt
        )
        spent = tree_cpu_seconds(server.process) - before
        if record:
            series = self.series.setdefault((server.name, endpoint.key), Series())
            series.runs.append(run)
            series.cpu_ms.append(spent * 1000 / max(run.requests, 1))
            console.print(
                f"  {server.name:8} {endpoint.label:34} {run.requests_per_second:9,.0f} req/s  p99 {run.p99_ms:7.1f} ms"
                f"  {series.cpu_ms[-1]:6.2f} ms CPU/req  wrk {run.client_cpu_seconds / run.wall_seconds:.2f} core"
                + (
                    f"  [red]{run.errors} non-2xx, {run.socket_errors} socket errors[/red]"
                    if run.errors or run.socket_errors
                    else ""
                ),
                highlight=False,
            )
        return run

    def get(self, server: str, key: str) -> Series:
        return self.series.get((server, key), Series())


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def _rate_text(series: Series) -> str:
    return f"{series.rate:,.0f} req/s · p99 {_ms(series.p99)} ms · {series.cpu_per_request:.2f} ms CPU"


def http_section(options: Options, base: Settings, report: Report) -> None:
    if shutil.which("wrk") is None:
        report.note("wrk is not installed: the HTTP section is skipped (Debian: apt install wrk)")
        return
    with scratch(options, "http", base, report) as db, tempfile.TemporaryDirectory() as folder:
        console.print(f"http: seeding {options.products:,} products and {options.users:,} users …")
        seed_products(db.url, options.products)
        seeded = seed_users(db, options.users)
        # The limiter counts each log-in before bcrypt and refunds it once it succeeded: with more
        # than 5 in flight for one email, the 6th would be refused. Raise the limit; the counting
        # itself still runs on every log-in, as in production.
        env = prod_env(db, RATE_LIMIT_LOGIN="1000000/minute")
        ports = {name: free_port() for name in ("ours", "ours x2", "bare", "hello")}
        commands = {
            "ours": (ours_command(ports["ours"], 1), "/health"),
            "ours x2": (ours_command(ports["ours x2"], 2), "/health"),
            "bare": ([sys.executable, "-m", "bench.bare_catalog", "--port", str(ports["bare"])], "/api/products"),
            "hello": (
                [sys.executable, "-m", "bench.telemetry_overhead", "--serve", "hello", "--port", str(ports["hello"])],
                "/",
            ),
        }
        with contextlib.ExitStack() as stack:
            servers: dict[str, Server] = {}
            for name, (command, ready) in commands.items():
                root = f"http://127.0.0.1:{ports[name]}"
                process = stack.enter_context(serve(command, env, root + ready, quiet=True))
                servers[name] = Server(name, root, psutil.Process(process.pid))
            measure_http(options, report, servers, seeded, login_lua(Path(folder) / "login.lua"))


def measure_http(
    options: Options, report: Report, servers: dict[str, Server], seeded: Accounts, login_script: Path
) -> None:
    product_id = httpx.get(servers["bare"].root + "/api/products?limit=1").json()["data"][0]["id"]
    endpoints = endpoints_for(product_id, seeded, login_script)
    same: list[Endpoint] = []
    for endpoint in endpoints:
        if endpoint.bare_path is None:
            same.append(endpoint)
            continue
        why = differs(servers["ours"], servers["bare"], endpoint)
        if why is None:
            same.append(endpoint)
        else:
            report.note(f"{endpoint.label}: ours and bare differ, not measured: {why}", failure=True)
    console.print(f"http: the same JSON from ours and bare for {len(same)} endpoints; warming up …")
    measurer = Measurer(options)
    products = endpoints[0]
    hello = Endpoint("hello", "GET / (hello-world)", "/", None)
    # Each measured pair: (server, endpoint, path on that server).
    plan: list[tuple[Server, Endpoint, str]] = []
    for endpoint in same:
        plan.append((servers["ours"], endpoint, endpoint.path))
        if endpoint.bare_path is not None:
            plan.append((servers["bare"], endpoint, endpoint.bare_path))
    plan.append((servers["hello"], hello, "/"))
    if products in same:
        plan.append((servers["ours x2"], products, products.path))
    for server, endpoint, path in plan:
        measurer.run(server, endpoint, path, seconds=options.warmup, record=False)
    ours = servers["ours"].process
    idle_rss = rss_bytes(ours)
    for round_number in range(options.rounds):
        console.print(f"http: round {round_number + 1} of {options.rounds}")
        for server, endpoint, path in plan if round_number % 2 == 0 else list(reversed(plan)):
            measurer.run(server, endpoint, path, seconds=options.seconds)
    mix_rss = rss_bytes(ours)
    soak = soak_mix(options, measurer, servers["ours"], [e for e in same if e.read]) if options.soak_minutes else None
    http_figures(report, measurer, same, seeded)
    memory_figures(report, servers, idle_rss, mix_rss, soak, options)
    report.data["http"] = {
        "servers": {
            "ours": "myapp server --workers 1, MYAPP_ENV=prod (JSON access log at INFO, cache off without REDIS_URL)",
            "ours x2": "myapp server --workers 2, same settings",
            "bare": "bench.bare_catalog: uvicorn (uvloop, httptools), Starlette, psycopg pool 10–15, orjson",
            "hello": "bench.telemetry_overhead --serve hello: a bare ASGI hello-world on uvicorn",
        },
        "wrk": f"-t2 -c{options.connections} (log-ins -c{options.login_connections}), {options.seconds} s per run,"
        f" {options.rounds} interleaved rounds after {options.warmup} s of warm-up each; medians",
        "bcrypt_cost": seeded.bcrypt_cost,
        "runs": {
            f"{server} {key}": {
                "runs": [asdict(run) for run in series.runs],
                "server_cpu_ms_per_request": series.cpu_ms,
            }
            for (server, key), series in measurer.series.items()
        },
        "rss_bytes": {"after_warmup": idle_rss, "after_mix": mix_rss, "soak": soak},
    }


def http_figures(report: Report, measurer: Measurer, measured: list[Endpoint], seeded: Accounts) -> None:
    for endpoint in measured:
        mine = measurer.get("ours", endpoint.key)
        if endpoint.key == "health":
            theirs, baseline_name, target_ratio = measurer.get("hello", "hello"), "hello-world", HEALTH_RATIO_TARGET
            target = f"≥ {HEALTH_RATIO_TARGET:.2f} of hello-world"
        else:
            theirs, baseline_name, target_ratio = measurer.get("bare", endpoint.key), "bare", READ_RATIO_TARGET
            target = f"≥ {READ_RATIO_TARGET:.2f} of bare, p99 < {P99_TARGET_MS:.0f} ms"
        ratio = mine.rate / theirs.rate if theirs.rate else math.nan
        met: bool | None = ratio >= target_ratio
        if endpoint.read and endpoint.key != "health":
            met = bool(met) and mine.p99 < P99_TARGET_MS
        name = endpoint.label
        if endpoint.login:
            name += f" (bcrypt cost {seeded.bcrypt_cost}, {measurer.options.login_connections} connections)"
            target, met = "– (reported)", None
        errors = mine.errors + theirs.errors
        if errors:
            report.note(f"{endpoint.label}: {errors} non-2xx answers or socket errors during the runs", failure=True)
        report.add(
            Figure(
                "http",
                name,
                mine.rate,
                "req/s",
                _rate_text(mine),
                baseline=theirs.rate,
                baseline_shown=f"{baseline_name}: {_rate_text(theirs)}",
                ratio=ratio,
                target=target,
                met=met,
                client_cpu=max(mine.client_cpu, theirs.client_cpu),
                detail={
                    "p99_ms": mine.p99,
                    "baseline_p99_ms": theirs.p99,
                    "cpu_ms_per_request": mine.cpu_per_request,
                    "baseline_cpu_ms_per_request": theirs.cpu_per_request,
                    "errors": errors,
                },
            )
        )
    one, two = measurer.get("ours", "products"), measurer.get("ours x2", "products")
    if two.runs:
        ratio = two.rate / one.rate if one.rate else math.nan
        report.add(
            Figure(
                "http",
                "--workers 2: GET /api/products?limit=20",
                two.rate,
                "req/s",
                _rate_text(two),
                baseline=one.rate,
                baseline_shown=f"1 worker: {_rate_text(one)}",
                ratio=ratio,
                target=f"≥ {WORKERS_2_TARGET}× 1 worker",
                met=ratio >= WORKERS_2_TARGET,
                client_cpu=two.client_cpu,
                detail={"p99_ms": two.p99, "cpu_ms_per_request": two.cpu_per_request},
            )
        )


def soak_mix(options: Options, measurer: Measurer, ours: Server, reads: list[Endpoint]) -> dict[str, Any]:
    """`--soak` minutes of the read mix on our one-worker server, 10 s per endpoint in turn; RSS after each."""
    deadline = time.monotonic() + options.soak_minutes * 60
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    console.print(f"http: soaking {options.soak_minutes:g} minutes …")
    turn = 0
    while time.monotonic() < deadline and reads:
        endpoint = reads[turn % len(reads)]
        measurer.run(ours, endpoint, endpoint.path, seconds=10, record=False)
        samples.append((time.monotonic() - started, rss_bytes(ours.process)))
        turn += 1
    return {"minutes": options.soak_minutes, "rss_samples": samples, "final_rss": samples[-1][1] if samples else None}


def memory_figures(
    report: Report,
    servers: dict[str, Server],
    idle_rss: int,
    mix_rss: int,
    soak: dict[str, Any] | None,
    options: Options,
) -> None:
    bare_rss = rss_bytes(servers["bare"].process)
    report.add(
        Figure(
            "memory",
            "RSS of one server worker after the warm-up",
            idle_rss / 1e6,
            "MB",
            f"{idle_rss / 1e6:,.1f} MB",
            baseline=bare_rss / 1e6,
            baseline_shown=f"bare app: {bare_rss / 1e6:,.1f} MB",
            ratio=idle_rss / bare_rss,
            target="– (reported)",
        )
    )
    report.add(
        Figure(
            "memory",
            f"RSS after the measured mix ({options.rounds} round{'s' if options.rounds > 1 else ''})",
            mix_rss / 1e6,
            "MB",
            f"{mix_rss / 1e6:,.1f} MB",
            baseline=idle_rss / 1e6,
            baseline_shown=f"after warm-up: {idle_rss / 1e6:,.1f} MB",
            ratio=mix_rss / idle_rss,
            target=f"≤ {RSS_GROWTH_TARGET:.2f} after 10 min (--soak 10)",
        )
    )
    if soak and soak["final_rss"]:
        final = int(soak["final_rss"])
        report.add(
            Figure(
                "memory",
                f"RSS after --soak {soak['minutes']:g} minutes of the read mix",
                final / 1e6,
                "MB",
                f"{final / 1e6:,.1f} MB",
                baseline=idle_rss / 1e6,
                baseline_shown=f"after warm-up: {idle_rss / 1e6:,.1f} MB",
                ratio=final / idle_rss,
                target=f"≤ {RSS_GROWTH_TARGET:.2f}" + (" (10 min)" if soak["minutes"] < 10 else ""),
                met=final / idle_rss <= RSS_GROWTH_TARGET if soak["minutes"] >= 10 else None,
            )
        )


# --- jobs: bench.jobs_throughput's run ---


def jobs_section(options: Options, base: Settings, report: Report) -> None:
    from bench import jobs_throughput

    run_options = jobs_throughput.Options(
        jobs=options.jobs,
        concurrency=10,
        enqueue="defer",
        batch_size=1_000,
        pool_size=None,
        warmup=min(200, options.jobs),
        keep_db=options.keep_db,
    )
    with scratch(options, "jobs", base, report) as db:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(jobs_throughput.CREATE_PLAIN_TABLE)
        settings = Settings(env="dev", database_url=db.url, jobs_in_server=False)
        console.print(f"jobs: {options.jobs:,} no-op jobs through one worker (concurrency 10), beside plain inserts …")
        # On uvloop, as `myapp worker` runs its jobs.
        results = uvloop.run(jobs_throughput.run(run_options, settings, db, user_ids=[]))  # no-op jobs: no users
    n = options.jobs
    insert_rate = n / results.insert.seconds
    enqueue_rate = n / results.enqueue.seconds
    worker_rate = n / results.worker.seconds
    succeeded = results.statuses.get("succeeded", 0)
    if succeeded != n:
        report.note(f"jobs: {succeeded:,} of {n:,} jobs succeeded ({results.statuses})", failure=True)
    plain = f"plain inserts: {insert_rate:,.0f}/s"
    report.add(
        Figure(
            "jobs",
            f"no-op jobs through one worker (N={n:,}, concurrency 10)",
            worker_rate,
            "jobs/s",
            f"{worker_rate:,.0f} jobs/s",
            baseline=insert_rate,
            baseline_shown=plain,
            ratio=worker_rate / insert_rate,
            target=f"≥ {JOBS_PER_SECOND_TARGET:,.0f} jobs/s",
            met=worker_rate >= JOBS_PER_SECOND_TARGET,
            detail={"seconds": results.worker.seconds, "cpu_seconds": results.worker.cpu_seconds},
        )
    )
    report.add(
        Figure(
            "jobs",
            "enqueue (defer_async, one job per transaction)",
            enqueue_rate,
            "jobs/s",
            f"{enqueue_rate:,.0f} jobs/s",
            baseline=insert_rate,
            baseline_shown=plain,
            ratio=enqueue_rate / insert_rate,
            target=f"≥ {ENQUEUE_RATIO_TARGET:.2f} of plain inserts",
            met=enqueue_rate / insert_rate >= ENQUEUE_RATIO_TARGET,
            detail={"seconds": results.enqueue.seconds, "cpu_seconds": results.enqueue.cpu_seconds},
        )
    )
    report.data["jobs"] = {
        "n": n,
        "synchronous_commit": results.synchronous_commit,
        "fsync": results.fsync,
        "phases": {
            name: asdict(phase)
            for name, phase in (("insert", results.insert), ("enqueue", results.enqueue), ("worker", results.worker))
        },
        "statuses": results.statuses,
    }


# --- sockets: bench.channels_scale's scenarios ---


def sockets_section(options: Options, base: Settings, report: Report) -> None:
    from bench import channels_scale
    from bench.channels_client import raise_open_files_limit
    from bench.support import percentile

    count = options.socket_count
    scale = channels_scale.parse_args(
        ["--sockets", str(count), "--scenarios", "plain,room", "--presence-budget", str(PRESENCE_BUDGET_S)]
    )
    raise_open_files_limit()
    console.print(f"sockets: bench.channels_scale with {count:,} sockets (plain, then room:lobby with Presence) …")
    with scratch(options, "channels", base, report) as db:
        settings = Settings(env="dev", database_url=db.url, jobs_in_server=False)
        tokens = channels_scale.sign_tokens(settings, channels_scale.create_users(db, count))
        env = channels_scale.server_env(settings, db)
        results = {}
        with tempfile.TemporaryDirectory(prefix="suite-sockets-") as workdir:
            for key in scale.scenarios:
                scenario = channels_scale.SCENARIOS[key]
                results[key] = asyncio.run(
                    channels_scale.run_scenario(scale, scenario, tokens, env, Path(workdir), "127.0.0.1")
                )
    plain, room = results["plain"], results["room"]
    kb = (plain.rss_joined - plain.rss_before) / plain.joined / 1024 if plain.joined else math.nan
    p99 = percentile(plain.latencies, 0.99)
    report.add(
        Figure(
            "sockets",
            "sockets joined (bench:lobby, 2 workers)",
            plain.joined,
            "sockets",
            f"{plain.joined:,}",
            target=f"{count:,}",
            met=plain.joined >= count,
        )
    )
    report.add(
        Figure(
            "sockets",
            "memory per socket",
            kb,
            "KB",
            f"{kb:,.1f} KB",
            target=f"≤ {KB_PER_SOCKET_TARGET:.0f} KB",
            met=kb <= KB_PER_SOCKET_TARGET,
        )
    )
    report.add(
        Figure(
            "sockets",
            "broadcast to all: per-socket p99",
            p99,
            "s",
            f"{p99 * 1000:,.0f} ms",
            target=f"< {BROADCAST_P99_TARGET_S:.0f} s",
            met=p99 < BROADCAST_P99_TARGET_S,
        )
    )
    report.add(
        Figure(
            "sockets",
            f"room:lobby with Presence: joined within {PRESENCE_BUDGET_S:.0f} s",
            room.joined,
            "sockets",
            f"{room.joined:,}" + (f" ({room.stopped})" if room.stopped else ""),
            target=f"{count:,} within {PRESENCE_BUDGET_S:.0f} s",
            met=room.joined >= count,
        )
    )
    converged = room.presence.get("converged", 0)
    last = room.presence.get("last", math.nan)
    report.add(
        Figure(
            "sockets",
            "room:lobby: every client's presence list converged (all users listed)",
            last,
            "s",
            f"{converged:,} of {room.presence.get('expected', 0):,} lists, the last {last:,.0f} s after the first join",
            target=f"{count:,} within {PRESENCE_BUDGET_S:.0f} s",
            met=converged >= count and last <= PRESENCE_BUDGET_S,
        )
    )
    report.data["sockets"] = {
        key: {
            "presence": result.presence,
            "joined": result.joined,
            "stopped": result.stopped,
            "rss_before": result.rss_before,
            "rss_joined": result.rss_joined,
            "latency_p50": percentile(result.latencies, 0.5),
            "latency_p99": percentile(result.latencies, 0.99),
            "reach_all": result.reach_all,
            "batches": result.batches,
        }
        for key, result in results.items()
    }


# --- Running it all ---


SECTION_RUNNERS: dict[str, Callable[[Options, Settings, Report], None]] = {
    "startup": startup_section,
    "http": http_section,
    "jobs": jobs_section,
    "sockets": sockets_section,
}


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    report = Report(started=datetime.now(UTC), options=options)
    load_before = os.getloadavg()
    started = time.monotonic()
    report.setup.update(
        date=report.started.strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        cpu_model=_cpu_model(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        wrk=wrk_version(),
    )
    base = Settings(env="dev")  # DATABASE_URL's server (environment or .env), else the embedded one
    timings: dict[str, float] = {}
    for name in options.sections:
        section_started = time.monotonic()
        try:
            SECTION_RUNNERS[name](options, base, report)
        except Exception as error:  # one broken section must not lose the others' figures
            report.note(f"{name}: failed: {type(error).__name__}: {error}", failure=True)
        timings[name] = round(time.monotonic() - section_started, 1)
    load_after = os.getloadavg()
    report.setup.update(
        load_average={
            "before": " ".join(f"{value:.2f}" for value in load_before),
            "after": " ".join(f"{value:.2f}" for value in load_after),
        },
        seconds=time.monotonic() - started,
        section_seconds=timings,
    )
    report.setup.setdefault("postgresql", "PostgreSQL: not used")
    render(report)
    path = write_json(report)
    console.print(f"every figure: {path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path}")
    return 1 if report.failed else 0


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


if __name__ == "__main__":
    sys.exit(main())
