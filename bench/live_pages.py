"""Idle live pages on one node: memory and tasks per open page, and one user change's time to reach them all (issue 10).

    .venv/bin/python -m bench.live_pages [--pages 1000] [--rounds 10] [--scenarios keepalive,bare,constant,demo,users]

1. A fresh database `my_app_bench_live` (never the dev data) on DATABASE_URL's server or the embedded
   one, migrated at head and seeded (`myapp db seed`: admin@example.com and three users), plus
   bench users up to `--users` rows in all: what a user list shows.
2. For each scenario, a server in its own process (`myapp server`'s uvicorn, uvloop, httptools, one
   worker; this module's `serve` command adds `/_bench/*` routes and two bench pages to the app), and
   N connections from this process (one `asyncio.Protocol` per connection on uvloop, no task):
   - `keepalive`: N idle HTTP/1.1 keep-alive connections that each made one request (`/_bench/ping`,
     through the whole app): what an idle connection costs uvicorn;
   - `bare`: N bare SSE streams, a plain ASGI callable before the middleware that sends headers and
     one event and waits in `receive()`: the least an open stream costs;
   - `constant`: N live pages (the toolkit, the middleware, the admin's session, `USERS_TOPIC`)
     whose `handle_info` returns a constant patch: the fan-out baseline (no load, no rendering);
   - `demo`: N live pages listing the users in a table (`Stream` rows), re-rendering the changed row
     from one shared load (`LivePage.shared`): what `/users` does, defined here;
   - `users`: N `/users` pages (`--users-path`), skipped with a note when the app has none yet.
   The live pages carry the seeded admin's session cookie (logged in through `POST /users/log-in`
   with the log-in page's CSRF token).
3. Memory: warm-up (20 connections, one change, closed), a `gc.collect()` in the server, its RSS; N
   connections opened in batches (`--batch`), each waiting for its first event (the page's region);
   a second `gc.collect()` and RSS. Per page: (after − before) / N. The server's asyncio tasks are
   counted in both states: an idle live page should add its connection's task and nothing else.
4. Fan-out (live pages): one untimed change, then `--rounds`: the client asks `POST /_bench/touch`,
   which renames one listed user through `accounts.update_user` (the context commits, then broadcasts
   `user_updated` on `USERS_TOPIC`); each connection's latency is the arrival of its next `event: live`
   minus the moment the request left (the same process, `time.monotonic()`). p50/p99 over every page
   of every round, and per round the time until the last page had it (reach all).

The figures: memory per live page ÷ a bare SSE stream's, and reach-all for the user list ÷ the
constant page's, both measured in the same run; targets: < 20 KB a page, every page within 1 s.
`--explain` runs the live-page scenarios again with tracemalloc in the server and prints where the
memory of an open page goes (allocation lines and object types per page); its RSS is not a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import math
import os
import platform
import pstats
import re
import subprocess
import sys
import time
import tracemalloc
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Annotated, Any, cast

import httpx
import psutil
import psycopg
import uvloop
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from jinja2 import ChoiceLoader, DictLoader
from rich.console import Console
from rich.table import Table
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.channels_client import raise_open_files_limit
from bench.support import PROJECT_ROOT, describe_database, free_port, percentile, scratch_database
from bench.support import serve as serve_process
from my_app import accounts, database
from my_app.accounts import Role
from my_app.accounts.scope import Scope as AccountsScope
from my_app.config import Settings
from my_app.pubsub import Message
from my_app_web.live import LivePage, Patch, Stream, live, patches
from my_app_web.plugs.auth import authorize_page
from my_app_web.templating import templates

BENCH_DATABASE = "my_app_bench_live"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "demo password 1234"  # noqa: S105 - the dev seeds' demo password, in a scratch database
TOUCHED_EMAIL = "bench-1@example.com"  # the user each round renames: a row on every user list
WARMUP_PAGES = 20
LIVE_EVENT = b"event: live"
PONG = b"bench-pong"
TARGET_KB = 20.0
TARGET_REACH_SECONDS = 1.0

console = Console(width=None if sys.stdout.isatty() else 150)


# ======================================================================================
# The server side: the app as `myapp server` builds it, plus bench pages and /_bench routes
# ======================================================================================

TEMPLATES = {
    "bench_live/users.html": '{% extends "live/page.html" %}{% block header %}<h1>Users</h1>{% endblock %}',
    "bench_live/_users.html": (
        '{% from "bench_live/_user_row.html" import user_row with context %}'
        "<table><thead><tr><th>Email</th><th>Name</th><th>Role</th></tr></thead>"
        '<tbody id="users">{% for user in users %}{{ user_row(user) }}{% endfor %}</tbody></table>'
    ),
    "bench_live/_user_row.html": (
        '{% macro user_row(user) %}<tr id="users-{{ user.id }}"><td>{{ user.email }}</td><td>{{ user.name }}</td>'
        '<td>{{ user.role }}</td><td><a href="/users/{{ user.id }}">{{ _("Show") }}</a></td></tr>{% endmacro %}'
    ),
    "bench_live/constant.html": '{% extends "live/page.html" %}{% block header %}<h1>Constant</h1>{% endblock %}',
    "bench_live/_constant.html": '<p id="bench-constant">{{ count }}</p>',
}

AdminSession = Annotated[accounts.Session, Depends(authorize_page(Role.ADMIN))]


class DemoUserList(LivePage):
    """What `/users` does (the seed's UserLive.Index): a table of users, a row per change."""

    template = "bench_live/users.html"
    region_template = "bench_live/_users.html"

    def __init__(self, request: Request, scope: AccountsScope) -> None:
        super().__init__(request)
        self.scope = scope
        self.rows = Stream("users")

    def topics(self) -> Sequence[str]:
        return [accounts.USERS_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        users = await accounts.list_users(self.scope)
        self.rows.reset(user.id for user in users)
        return {"users": users}

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        user_id = message.payload["id"]
        if message.event == "user_deleted":
            return [patch for patch in [self.rows.delete(user_id)] if patch]
        user = await self.shared(message, "user", lambda: accounts.get_user(self.scope, user_id))
        return [self.rows.insert(user.id, self.render_macro("bench_live/_user_row.html", "user_row", user))]


class ConstantPage(LivePage):
    """The fan-out baseline: the same stream, topic and session, but no load and no rendering."""

    template = "bench_live/constant.html"
    region_template = "bench_live/_constant.html"
    PATCH = patches.inner("bench-constant", "changed")

    def topics(self) -> Sequence[str]:
        return [accounts.USERS_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        return {"count": 0}

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        return [self.PATCH]


bench_router = APIRouter()


@bench_router.get("/_bench/live/users")
async def demo_user_list(request: Request, session: AdminSession) -> Response:
    return await live(request, DemoUserList(request, AccountsScope.for_user(session.user)))


@bench_router.get("/_bench/live/constant")
async def constant_page(request: Request, session: AdminSession) -> Response:
    return await live(request, ConstantPage(request))


@bench_router.get("/_bench/ping")
async def ping() -> PlainTextResponse:
    return PlainTextResponse(PONG.decode())


@bench_router.post("/_bench/touch")
async def touch(name: str) -> dict[str, Any]:
    """Rename the bench user every list shows, as an admin's edit would: commit, then broadcast."""
    started = time.perf_counter()
    scope = AccountsScope.for_system()
    user = await accounts.get_user_by_email(TOUCHED_EMAIL)
    if user is None:
        raise LookupError(TOUCHED_EMAIL)
    await accounts.update_user(scope, user, {"name": name})
    return {"seconds": time.perf_counter() - started}


_marks: dict[str, Any] = {}


@bench_router.get("/_bench/stats")
async def stats(collect: bool = False, debug: bool = False) -> dict[str, Any]:
    if collect:
        gc.collect()
    tasks = asyncio.all_tasks()
    kinds = Counter(getattr(task.get_coro(), "__qualname__", "?") for task in tasks)
    out = {"pid": os.getpid(), "tasks": len(tasks), "task_kinds": dict(kinds.most_common(8))}
    if debug:
        live = [o for o in gc.get_objects() if isinstance(o, asyncio.Task)]
        out["task_objects"] = {
            "all": len(live),
            "pending": sum(not t.done() for t in live),
            "registered": len(asyncio.tasks._all_tasks),
        }
    return out


@bench_router.post("/_bench/mark")
async def mark() -> dict[str, Any]:
    """Remember the live objects by type (and the allocations, when tracing) to compare with later."""
    gc.collect()
    _marks["types"] = Counter(type(o).__qualname__ for o in gc.get_objects())
    if tracemalloc.is_tracing():
        _marks["snapshot"] = tracemalloc.take_snapshot()
    return {"tracing": tracemalloc.is_tracing()}


@bench_router.get("/_bench/growth")
async def growth(limit: int = 25) -> dict[str, Any]:
    """What was allocated since the mark and is still alive: by object type, and by source line."""
    gc.collect()
    types = Counter(type(o).__qualname__ for o in gc.get_objects())
    types.subtract(_marks.get("types", Counter()))
    out: dict[str, Any] = {"types": [list(item) for item in types.most_common(limit)]}
    if tracemalloc.is_tracing() and "snapshot" in _marks:
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        snapshot = tracemalloc.take_snapshot().filter_traces(ignore)
        stats_ = snapshot.compare_to(_marks["snapshot"].filter_traces(ignore), "lineno")
        out["lines"] = [[str(stat.traceback[0]), stat.size_diff, stat.count_diff] for stat in stats_[:limit]]
        out["total"] = sum(stat.size_diff for stat in stats_)
    return out


@bench_router.post("/_bench/profile/start")
async def profile_start() -> dict[str, Any]:
    profiler = cProfile.Profile()
    _marks["profiler"] = profiler
    profiler.enable()
    return {}


@bench_router.post("/_bench/profile/stop")
async def profile_stop(limit: int = 30) -> dict[str, str]:
    profiler: cProfile.Profile = _marks.pop("profiler")
    profiler.disable()
    out: dict[str, str] = {}
    for key in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(key).print_stats(limit)
        out[key] = text.getvalue()
    return out


class BareStreams:
    """`/_bench/bare`: an SSE stream in plain ASGI, before the app's middleware: headers, one event,
    then the connection's coroutine waits in `receive()` until the client goes away."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/_bench/bare":
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"event: live\ndata: bare\n\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass


def memoize_paths() -> None:
    """Experiment (`--memoize-paths`): remember `templating.path_for`'s answers. FastAPI's
    `url_path_for` walks the routes on every call (about 0.35 ms here), and a `/users` row has six
    links: the rows 1,000 pages render for one change spend most of their time there."""
    from my_app_web import templating

    original = templating.path_for
    known: dict[tuple[Any, ...], str] = {}

    def path_for(request: Request, name: str, /, **path_params: Any) -> str:
        router = request.scope.get("router") or request.scope["app"]
        key = (id(router), request.scope.get("root_path", ""), name, *sorted(path_params.items()))
        path = known.get(key)
        if path is None:
            if len(known) > 10_000:
                known.clear()
            path = known[key] = original(request, name, **path_params)
        return path

    templating.path_for = path_for


def create_bench_app() -> ASGIApp:
    """The app `myapp server` serves, with the bench pages and routes; the factory `serve` runs."""
    from my_app_web.endpoint import create_app

    if os.environ.get("BENCH_MEMOIZE_PATHS"):
        memoize_paths()

    loader = templates.env.loader
    assert isinstance(loader, ChoiceLoader)
    loader.loaders = [*loader.loaders, DictLoader(TEMPLATES)]
    app = create_app()
    app.include_router(bench_router)
    return BareStreams(app)


def serve(port: int) -> None:
    from my_app.cli import server as server_command

    raise_open_files_limit()
    if os.environ.get("BENCH_TRACEMALLOC"):
        tracemalloc.start(1)
    server_command.APP_FACTORY = "bench.live_pages:create_bench_app"
    server_command.server(host="127.0.0.1", port=port, workers=1)


# ======================================================================================
# The load client: one asyncio.Protocol per connection, counting events as they arrive
# ======================================================================================


class Load:
    """The connections of one scenario and what they wait for: `pattern` seen `expected` times."""

    def __init__(self, pattern: bytes, pages: int) -> None:
        self.pattern = pattern
        self.conns: list[Conn] = []
        self.expected = 1
        self.arrivals = array("d", [math.nan]) * pages
        self.arrived = 0
        self.waiting_for = 0  # how many arrivals complete the current wait
        self.done: asyncio.Future[None] | None = None
        self.lost = 0
        self.statuses: Counter[str] = Counter()

    def arm(self, expected: int, waiting_for: int, *, new_only: bool = False) -> asyncio.Future[None]:
        """Wait for `waiting_for` connections to have seen the pattern `expected` times; with
        `new_only`, only connections opened from now on count (a batch being opened)."""
        self.expected = expected
        self.arrived = 0
        self.waiting_for = waiting_for
        for index in range(len(self.arrivals)):
            self.arrivals[index] = math.nan
        self.done = asyncio.get_running_loop().create_future()
        if not new_only:
            for conn in self.conns:  # those whose event came already
                if conn.seen >= expected:
                    self.arrive(conn)
        return self.done

    def arrive(self, conn: Conn) -> None:
        if math.isnan(self.arrivals[conn.index]):
            self.arrivals[conn.index] = time.monotonic()
            self.arrived += 1
            if self.arrived >= self.waiting_for and self.done is not None and not self.done.done():
                self.done.set_result(None)


class Conn(asyncio.Protocol):
    __slots__ = ("carry", "index", "load", "request", "seen", "status", "transport")

    def __init__(self, load: Load, index: int, request: bytes) -> None:
        self.load = load
        self.index = index
        self.request = request
        self.seen = 0
        self.carry = b""
        self.status = ""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's TCPTransport, not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.status:
            self.status = data[9:12].decode(errors="replace")
            self.load.statuses[self.status] += 1
        pattern = self.load.pattern
        window = self.carry + data
        found = window.count(pattern)
        self.carry = window[-(len(pattern) - 1) :]
        if found:
            self.seen += found
            if self.seen >= self.load.expected:
                self.load.arrive(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.lost += 1


def http_request(path: str, port: int, *, stream: bool, cookie: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if stream:
        lines.append("Accept: text/event-stream")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def open_connections(load: Load, port: int, request: bytes, count: int, batch: int, wait_seconds: float) -> int:
    """Open `count` more connections, `batch` at once, each until its first answer; the number ready."""
    loop = asyncio.get_running_loop()
    start = len(load.conns)
    for first in range(start, start + count, batch):
        size = min(batch, start + count - first)
        done = load.arm(1, size, new_only=True)  # the earlier batches have had theirs
        results = await asyncio.gather(
            *(
                loop.create_connection(lambda i=i: Conn(load, i, request), "127.0.0.1", port)  # type: ignore[misc]
                for i in range(first, first + size)
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise RuntimeError(f"could not connect: {result!r}")
            load.conns.append(result[1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), wait_seconds)
        if load.arrived < size:
            return first - start + load.arrived
    return count


def close_connections(load: Load) -> None:
    for conn in load.conns:
        if conn.transport is not None:
            conn.transport.close()
    load.conns.clear()


# ======================================================================================
# The controller
# ======================================================================================


@dataclass(frozen=True)
class ScenarioSpec:
    key: str
    label: str
    path: str
    stream: bool  # an SSE stream (else one plain request, then idle keep-alive)
    live: bool  # a live page: carries the session, takes the fan-out rounds


@dataclass(frozen=True)
class Options:
    pages: int
    rounds: int
    batch: int
    users: int
    scenarios: tuple[str, ...]
    users_path: str
    timeout: float
    explain: bool
    profile: bool
    memoize_paths: bool
    keep_db: bool


@dataclass
class Result:
    spec: ScenarioSpec
    opened: int = 0
    skipped: str | None = None
    rss_before: int = 0
    rss_open: int = 0
    client_rss_delta: int = 0
    tasks_before: int = 0
    tasks_open: int = 0
    tasks_after_rounds: int = 0
    task_kinds: dict[str, int] = field(default_factory=dict)
    open_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    reach_all: list[float] = field(default_factory=list)
    missing: int = 0
    touch_seconds: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    open_server_cpu: float = 0.0
    open_client_cpu: float = 0.0
    lost: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    nofile: tuple[int, int] = (0, 0)
    load: tuple[float, float] = (0.0, 0.0)
    growth: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, str] = field(default_factory=dict)

    @property
    def kb_per_page(self) -> float:
        return (self.rss_open - self.rss_before) / self.opened / 1024 if self.opened else math.nan

    @property
    def tasks_per_page(self) -> float:
        return (self.tasks_open - self.tasks_before) / self.opened if self.opened else math.nan


def scenario_specs(options: Options) -> dict[str, ScenarioSpec]:
    return {
        "keepalive": ScenarioSpec("keepalive", "idle keep-alive connection", "/_bench/ping", stream=False, live=False),
        "bare": ScenarioSpec("bare", "bare ASGI SSE stream", "/_bench/bare", stream=True, live=False),
        "constant": ScenarioSpec("constant", "live page, constant patch", "/_bench/live/constant", True, True),
        "demo": ScenarioSpec("demo", "live user list (bench page)", "/_bench/live/users", True, True),
        "users": ScenarioSpec("users", f"live {options.users_path}", options.users_path, True, True),
    }


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def server(env: dict[str, str], port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "bench.live_pages", "serve", "--port", str(port)]
    return serve_process(command, env, f"http://127.0.0.1:{port}/_bench/ping")


async def log_in(http: httpx.AsyncClient) -> str:
    """The admin's session cookie, through the log-in form (CSRF token from the log-in page)."""
    form = await http.get("/users/log-in")
    form.raise_for_status()
    token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError("the log-in page has no CSRF token")
    answer = await http.post(
        "/users/log-in", data={"_csrf_token": token.group(1), "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"log-in answered {answer.status_code}")
    return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


async def run_scenario(
    options: Options, spec: ScenarioSpec, env: dict[str, str], cookie_holder: list[str], *, explain: bool = False
) -> Result:
    result = Result(spec)
    port = free_port()
    me = psutil.Process()
    load_before = os.getloadavg()[0]
    with server(env, port) as process:
        ps = psutil.Process(process.pid)
        result.nofile = ps.rlimit(psutil.RLIMIT_NOFILE)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            if spec.live and not cookie_holder:
                cookie_holder.append(await log_in(http))
            cookie = cookie_holder[0] if spec.live else ""
            if spec.live:
                probe = await http.get(spec.path, headers={"cookie": cookie})
                if probe.status_code != 200:
                    result.skipped = f"GET {spec.path} answered {probe.status_code}"
                    result.load = (load_before, os.getloadavg()[0])
                    return result
            request = http_request(spec.path, port, stream=spec.stream, cookie=cookie)

            async def touch(round_number: int) -> float:
                answer = await http.post("/_bench/touch", params={"name": f"Bench user renamed {round_number}"})
                answer.raise_for_status()
                return float(answer.json()["seconds"])

            # Warm-up: first renders, template compilation, the shared-load path, a first fan-out.
            warm = Load(LIVE_EVENT if spec.stream else PONG, WARMUP_PAGES)
            await open_connections(warm, port, request, WARMUP_PAGES, WARMUP_PAGES, options.timeout)
            if spec.live:
                done = warm.arm(2, WARMUP_PAGES)
                await touch(0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done, options.timeout)
            close_connections(warm)
            await asyncio.sleep(0.5)

            before = (await http.get("/_bench/stats", params={"collect": True})).json()
            result.tasks_before = before["tasks"]
            result.rss_before = ps.memory_info().rss
            if explain:
                await http.post("/_bench/mark")
            client_rss = me.memory_info().rss

            load = Load(LIVE_EVENT if spec.stream else PONG, options.pages)
            cpu = (_cpu(ps), _cpu(me))
            started = time.monotonic()
            result.opened = await open_connections(load, port, request, options.pages, options.batch, options.timeout)
            result.open_seconds = time.monotonic() - started
            result.open_server_cpu, result.open_client_cpu = _cpu(ps) - cpu[0], _cpu(me) - cpu[1]
            await asyncio.sleep(1.0)  # idle: pumps done, nothing in flight
            opened = (await http.get("/_bench/stats", params={"collect": True})).json()
            result.tasks_open = opened["tasks"]
            result.task_kinds = opened["task_kinds"]
            result.rss_open = ps.memory_info().rss
            result.client_rss_delta = me.memory_info().rss - client_rss
            if explain:
                result.growth = (await http.get("/_bench/growth")).json()

            if spec.live and result.opened == options.pages:
                if options.profile:
                    await http.post("/_bench/profile/start")
                await fan_out(options, load, touch, ps, me, result)
                if options.profile:
                    result.profile = (await http.post("/_bench/profile/stop")).json()
                await asyncio.sleep(0.5)
                result.tasks_after_rounds = (await http.get("/_bench/stats")).json()["tasks"]
            result.lost = load.lost
            result.statuses = dict(load.statuses)
            close_connections(load)
    result.load = (load_before, os.getloadavg()[0])
    return result


async def fan_out(
    options: Options,
    load: Load,
    touch: Callable[[int], Awaitable[float]],
    ps: psutil.Process,
    me: psutil.Process,
    result: Result,
) -> None:
    """One untimed change, then `rounds` timed ones: each page's arrival of the next event."""
    pages = len(load.conns)
    for round_number in range(options.rounds + 1):
        done = load.arm(2 + round_number, pages)
        cpu = (_cpu(ps), _cpu(me))
        sent = time.monotonic()
        seconds = await touch(round_number + 1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done, options.timeout)
        if round_number == 0:
            continue  # untimed
        result.server_cpu += _cpu(ps) - cpu[0]
        result.client_cpu += _cpu(me) - cpu[1]
        result.touch_seconds.append(seconds)
        arrived = [at - sent for at in load.arrivals if not math.isnan(at)]
        result.missing += pages - len(arrived)
        result.latencies.extend(arrived)
        result.reach_all.append(max(arrived) if len(arrived) == pages else math.inf)
        await asyncio.sleep(0.2)


# --- Set-up ---


def seed(bench_db: database.Database, env: dict[str, str], users: int) -> None:
    """The dev seeds (the admin with the demo password), then bench users up to `users` in all."""
    subprocess.run(
        [sys.executable, "-m", "my_app.cli", "db", "seed"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True
    )
    with psycopg.connect(bench_db.url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
        existing = int(row[0]) if row else 0
        conn.execute(
            "INSERT INTO users (id, email, name, confirmed_at)"
            " SELECT gen_random_uuid(), 'bench-' || i || '@example.com', 'Bench user ' || i, now()"
            " FROM generate_series(1, %s) AS i",
            (max(1, users - existing),),
        )


def server_env(settings: Settings, bench_db: database.Database, *, tracing: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "MYAPP_ENV": "dev",
            "DATABASE_URL": bench_db.url,
            "JOBS_IN_SERVER": "false",
            "SECRET_KEY_BASE": settings.secret_key_base or "",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "BENCH_TRACEMALLOC": "1" if tracing else "",
        }
    )
    return env


# --- Report ---


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    if math.isinf(seconds):
        return "not all"
    return f"{seconds * 1000:,.0f}" if seconds >= 0.1 else f"{seconds * 1000:,.1f}"


def report(options: Options, where: str, results: list[Result]) -> None:
    setup = Table(title="Setup", show_header=False, title_justify="left")
    setup.add_column(style="bold", no_wrap=True)
    setup.add_column()
    setup.add_row("Python", f"{platform.python_implementation()} {platform.python_version()}")
    libraries = ("uvicorn", "uvloop", "httptools", "fastapi", "starlette", "jinja2")
    setup.add_row("libraries", ", ".join(f"{name} {metadata.version(name)}" for name in libraries))
    memory = psutil.virtual_memory()
    setup.add_row(
        "machine",
        f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{memory.total / 2**30:.1f} GiB RAM",
    )
    loads = ", ".join(f"{r.spec.key} {r.load[0]:.2f}→{r.load[1]:.2f}" for r in results)
    setup.add_row("load average (1 min)", f"{loads} (before → after each scenario)")
    setup.add_row("database", where)
    setup.add_row(
        "server",
        "`myapp server` (uvicorn, uvloop, httptools), 1 worker, MYAPP_ENV=dev, LOG_LEVEL=WARNING, "
        "PubSub on PostgreSQL; a fresh process per scenario",
    )
    limits = sorted({r.nofile for r in results if r.nofile != (0, 0)})
    setup.add_row(
        "open files (soft/hard)",
        ", ".join(f"{soft:,}/{hard:,}" for soft, hard in limits) + " in the server (raised to the hard limit)",
    )
    setup.add_row(
        "N",
        f"{options.pages:,} connections per scenario, {options.batch} opening at once; {options.users} users listed",
    )
    setup.add_row(
        "load client",
        "this process: one asyncio.Protocol per connection on uvloop, raw HTTP/1.1, counts `event: live`",
    )
    setup.add_row(
        "change",
        f"POST /_bench/touch: accounts.update_user renames {TOUCHED_EMAIL} (commit, then user_updated on "
        f"USERS_TOPIC); {options.rounds} timed rounds after one untimed",
    )
    console.print(setup)

    table = Table(title="Idle pages and fan-out", title_justify="left")
    for column in ("scenario", "open", "KB/page", "tasks/page", "p50 ms", "p99 ms", "reach all med/max ms"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    table.add_column("server / client CPU s", justify="right")
    for r in results:
        if r.skipped:
            table.add_row(r.spec.label, f"skipped: {r.skipped}")
            continue
        cpu = f"{r.server_cpu:.2f} / {r.client_cpu:.2f}" if r.latencies else "–"
        table.add_row(
            r.spec.label,
            f"{r.opened:,}",
            f"{r.kb_per_page:.1f}",
            f"{r.tasks_per_page:.2f}",
            _ms(percentile(r.latencies, 0.5)),
            _ms(percentile(r.latencies, 0.99)),
            f"{_ms(percentile(r.reach_all, 0.5))} / {_ms(max(r.reach_all, default=math.nan))}" if r.reach_all else "–",
            cpu,
        )
    console.print(table)

    details = Table(title="Details", show_header=False, title_justify="left")
    details.add_column(style="bold", no_wrap=True)
    details.add_column()
    for r in results:
        if r.skipped:
            continue
        details.add_row(
            r.spec.key,
            f"RSS {r.rss_before / 1e6:.1f} → {r.rss_open / 1e6:.1f} MB; tasks {r.tasks_before} → {r.tasks_open}"
            + (f" (after the rounds {r.tasks_after_rounds})" if r.tasks_after_rounds else "")
            + f"; opened in {r.open_seconds:.1f} s (server {r.open_server_cpu:.1f}, client {r.open_client_cpu:.1f}"
            f" CPU s); client RSS +{r.client_rss_delta / 1e6:.1f} MB; statuses {r.statuses}; closed early {r.lost}"
            + (f"; missing arrivals {r.missing}" if r.missing else "")
            + (f"; touch {_ms(percentile(r.touch_seconds, 0.5))} ms in the server" if r.touch_seconds else "")
            + f"; tasks by kind {r.task_kinds}",
        )
    console.print(details)

    by_key = {r.spec.key: r for r in results if not r.skipped and r.opened}
    page = by_key.get("users") or by_key.get("demo")
    figures = Table(title="Figures (targets: < 20 KB an idle page, every page within 1 s)", title_justify="left")
    for column in ("figure", "value", "ratio", "target"):
        figures.add_column(column, justify="left" if column == "figure" else "right")
    if page is not None:
        kb = page.kb_per_page
        bare = by_key.get("bare")
        figures.add_row(
            f"memory per idle page ({page.spec.label})",
            f"{kb:.1f} KB",
            f"{kb / bare.kb_per_page:.2f}× a bare SSE stream ({bare.kb_per_page:.1f} KB)" if bare else "–",
            "[green]met[/green]" if kb < TARGET_KB else "[red]missed[/red]",
        )
        figures.add_row(
            "tasks per idle page",
            f"{page.tasks_per_page:.2f}",
            "its connection's own: 1.00",
            "[green]met[/green]" if page.tasks_per_page < 1.01 else "[red]missed[/red]",
        )
        if page.reach_all:
            worst = max(page.reach_all)
            constant = by_key.get("constant")
            ratio = "–"
            if constant and constant.reach_all:
                base = percentile(constant.reach_all, 0.5)
                ratio = f"{percentile(page.reach_all, 0.5) / base:.2f}× the constant page ({_ms(base)} ms)"
            figures.add_row(
                f"reach all {page.opened:,} pages, median (max)",
                f"{_ms(percentile(page.reach_all, 0.5))} ({_ms(worst)}) ms",
                ratio,
                "[green]met[/green]" if worst < TARGET_REACH_SECONDS else "[red]missed[/red]",
            )
    console.print(figures)


def report_growth(results: list[Result]) -> None:
    for r in results:
        if not r.growth or not r.opened:
            continue
        table = Table(title=f"Where an open page's memory goes: {r.spec.label} (tracemalloc on)", title_justify="left")
        table.add_column("allocated at")
        table.add_column("bytes/page", justify="right")
        table.add_column("blocks/page", justify="right")
        for where, size, count in r.growth.get("lines", []):
            table.add_row(
                where.replace(str(PROJECT_ROOT) + "/", ""), f"{size / r.opened:,.0f}", f"{count / r.opened:.1f}"
            )
        total = r.growth.get("total")
        if total is not None:
            table.add_row("[bold]all traced[/bold]", f"{total / r.opened:,.0f}", "")
        console.print(table)
        types = ", ".join(f"{name} {count / r.opened:.1f}" for name, count in r.growth["types"] if count > 0)
        console.print(f"objects per page by type: {types}")


# --- Entry ---


def parse_args(argv: list[str] | None) -> Options | int:
    parser = argparse.ArgumentParser(prog="python -m bench.live_pages", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    serve_parser = sub.add_parser("serve", help="(internal) the bench server")
    serve_parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pages", type=int, default=1000, help="connections per scenario (N)")
    parser.add_argument("--rounds", type=int, default=10, help="timed user changes per live scenario")
    parser.add_argument("--batch", type=int, default=25, help="connections opening at once")
    parser.add_argument("--users", type=int, default=50, help="users in the database (rows of a user list)")
    parser.add_argument(
        "--scenarios",
        default="keepalive,bare,constant,demo,users",
        help="comma-separated: keepalive, bare, constant, demo, users",
    )
    parser.add_argument("--users-path", default="/users", help="the live user list the `users` scenario opens")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a batch or a round")
    parser.add_argument("--explain", action="store_true", help="also trace allocations per page (tracemalloc)")
    parser.add_argument("--profile", action="store_true", help="cProfile the server during the fan-out rounds")
    parser.add_argument(
        "--memoize-paths", action="store_true", help="experiment: the server caches templating.path_for's answers"
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.port)
        return 0
    scenarios = tuple(key.strip() for key in args.scenarios.split(",") if key.strip())
    unknown = set(scenarios) - {"keepalive", "bare", "constant", "demo", "users"}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return Options(
        pages=args.pages,
        rounds=args.rounds,
        batch=args.batch,
        users=args.users,
        scenarios=scenarios,
        users_path=args.users_path,
        timeout=args.timeout,
        explain=args.explain,
        profile=args.profile,
        memoize_paths=args.memoize_paths,
        keep_db=args.keep_db,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if isinstance(options, int):
        return options
    raise_open_files_limit()
    base = Settings(env="dev")  # DATABASE_URL (environment or .env), else the embedded server
    with console.status(f"preparing database {BENCH_DATABASE}…"):
        bench_db = scratch_database(base, BENCH_DATABASE)
        settings = Settings(env="dev", database_url=bench_db.url, jobs_in_server=False)
        env = server_env(settings, bench_db)
        env["BENCH_MEMOIZE_PATHS"] = "1" if options.memoize_paths else ""
        seed(bench_db, env, options.users)
    where = describe_database(bench_db, base)
    console.print(f"benchmarking on {where}: N={options.pages:,}, scenarios {', '.join(options.scenarios)}")
    specs = scenario_specs(options)
    results: list[Result] = []
    growth: list[Result] = []
    cookie: list[str] = []
    try:
        for key in options.scenarios:
            result = uvloop.run(run_scenario(options, specs[key], env, cookie))
            results.append(result)
            if result.skipped:
                console.print(f"{result.spec.label}: skipped ({result.skipped})")
                continue
            console.print(
                f"{result.spec.label}: {result.opened:,} open, {result.kb_per_page:.1f} KB/page, "
                f"{result.tasks_per_page:.2f} tasks/page, reach all median {_ms(percentile(result.reach_all, 0.5))} ms"
            )
        if options.explain:
            traced = {**env, "BENCH_TRACEMALLOC": "1"}
            for key in options.scenarios:
                if specs[key].live or key == "bare":
                    growth.append(uvloop.run(run_scenario(options, specs[key], traced, cookie, explain=True)))
    finally:
        if not options.keep_db:
            database.drop(bench_db)
    report(options, where, results)
    report_growth(growth)
    for result in results:
        for key, text in result.profile.items():
            console.print(f"[bold]{result.spec.label}: server profile of the rounds, by {key}[/bold]")
            console.print(text, markup=False, highlight=False)
    ok = all(r.skipped or (r.opened == options.pages and not r.missing) for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
