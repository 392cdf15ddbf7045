"""Concurrent joined sockets on one node, memory per socket, and one broadcast's time to reach them all (issue 5).

    .venv/bin/python -m bench.channels_scale [--sockets 20000] [--broadcasts 20] [--batch 500]

1. A fresh database `my_app_bench_channels` (`--database`; never the dev data) on DATABASE_URL's server or the
   embedded one, migrated at head, with N users; a socket token signed for each
   (`socket_token.sign`, the server's SECRET_KEY_BASE, bound to an API token row of the user as
   `GET /api/socket-token` binds it: connect checks that the credential still exists).
2. For each scenario, a server in its own process on its own port, and the load client
   (`bench.channels_client`: one asyncio Protocol per socket, hand-written framing, uvloop) in
   ceil(N / 10,000) processes, all with their open-files limit raised as far as allowed:
   - `baseline`: a bare `websockets` server answering joins and heartbeats and broadcasting with
     `websockets.broadcast()` (`bench.channels_baseline`): the least Python can do;
   - `plain`: the app (`myapp server`, `bench.channels_server`), topic `bench:lobby` on a bench-only
     channel that is RoomChannel's `new_msg` without Presence: the socket transport's own cost;
   - `room`: the app, topic `room:lobby` on RoomChannel, which tracks every join in Presence: each
     join is sent every user already there and reaches every socket already there, so this one
     stops adding batches after `--presence-budget` seconds and reports how far it got; then it
     waits until every socket's presence list (followed by the load client as the JS client's
     Presence would hold it) shows every joined user, and reports how many did and when the last did.
3. Warm-up (20 sockets connected, joined, one broadcast, closed), then the server's RSS; then N
   sockets in batches (`--batch`), each connecting with its token and joining the topic, kept alive
   with heartbeats; then, once the server is quiet, its RSS again: (after − before) / sockets joined.
4. One untimed broadcast, then K (`--broadcasts`): socket #0 pushes `new_msg`; each receiving
   socket's arrival time (CLOCK_MONOTONIC, shared by every process) minus the push's send time.
   p50/p99 over every socket of every broadcast; per broadcast, the time until the last socket
   had it. Server and client CPU seconds are summed over the broadcast windows.

The load client must not be the bottleneck: the table shows its CPU next to the server's for the
same windows, and the baseline shows how fast the same client takes a broadcast in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson
import psutil
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.channels_client import raise_open_files_limit
from bench.support import describe_database, percentile, scratch_database
from my_app import database
from my_app.config import Settings
from my_app_web.channels import connection, socket_token

BENCH_DATABASE = "my_app_bench_channels"
PER_CLIENT = 10_000  # sockets per load-client process (each process has its own open-files limit)
WARMUP_SOCKETS = 20
START_TIMEOUT = 90.0
SETTLE_MAX = 120.0
QUIET = 3.0  # seconds without a frame: the presence lists that have not converged never will
FAILED_BATCH_SHARE = 0.10  # stop connecting after a batch with this share of failures

console = Console(width=None if sys.stdout.isatty() else 150)

ScenarioKey = Literal["baseline", "plain", "room"]


@dataclass(frozen=True)
class Scenario:
    key: ScenarioKey
    label: str
    topic: str
    server: str


SCENARIOS: dict[ScenarioKey, Scenario] = {
    "baseline": Scenario(
        "baseline", "baseline: bare websockets", "room:lobby", "bench.channels_baseline (websockets, uvloop)"
    ),
    "plain": Scenario(
        "plain", "app, bench:lobby (no Presence)", "bench:lobby", "myapp server + a bench-only channel without Presence"
    ),
    "room": Scenario("room", "app, room:lobby (RoomChannel + Presence)", "room:lobby", "myapp server, RoomChannel"),
}


@dataclass(frozen=True)
class Options:
    sockets: int
    broadcasts: int
    batch: int
    scenarios: tuple[ScenarioKey, ...]
    join_timeout: float
    broadcast_timeout: float
    presence_budget: float
    hold: float
    profile: bool
    tracemalloc: bool
    workers: int
    gc_threshold: int | None
    gc_freeze: bool
    deflate: bool
    logs: Path | None
    keep_db: bool
    database: str = BENCH_DATABASE


@dataclass
class Result:
    scenario: Scenario
    target: int
    clients: int
    joined: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None  # why fewer than `target` were joined
    connect_seconds: float = 0.0
    batches: list[tuple[int, float]] = field(default_factory=list)  # (joined so far, batch seconds)
    rss_before: int = 0
    rss_joined: int = 0
    rss_end: int = 0
    fds_joined: int = 0
    server_nofile: tuple[int, int] = (0, 0)
    client_nofile: tuple[int, int] = (0, 0)
    tasks: int | None = None
    task_kinds: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, every socket of every broadcast
    reach_all: list[float] = field(default_factory=list)  # per broadcast: the last socket's latency
    missing: int = 0  # sockets that never got a measured broadcast
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    broadcast_wall: float = 0.0
    oldest_age: float = 0.0
    lost_after_join: int = 0
    heartbeats: int = 0
    heartbeat_replies: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)
    client_rss: int = 0
    gc_connect: dict[str, Any] = field(default_factory=dict)  # the app server's GC work while sockets joined
    gc_broadcast: dict[str, Any] = field(default_factory=dict)  # ... during the measured broadcasts
    load: tuple[float, float] = (0.0, 0.0)
    log_summary: list[str] = field(
        default_factory=list
    )  # the server log's most frequent warnings/errors  # 1-minute load average before and after the scenario
    debug: dict[str, Any] = field(default_factory=dict)
    server_log: Path | None = None
    # Presence (the room scenario): sockets whose list shows every joined user, and when the last got there.
    presence: dict[str, Any] = field(default_factory=dict)
    join_server_cpu: float = 0.0  # from the first join until the lists converged (or the server went quiet)
    join_client_cpu: float = 0.0


# --- Processes ---


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _tree(process: psutil.Process) -> list[psutil.Process]:
    """The server process and its workers (uvicorn --workers runs them as children)."""
    return [process, *process.children(recursive=True)]


def _tree_cpu(process: psutil.Process) -> float:
    total = 0.0
    for member in _tree(process):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += _cpu(member)
    return total


def _tree_rss(process: psutil.Process) -> int:
    return sum(int(member.memory_info().rss) for member in _tree(process))


def _tree_fds(process: psutil.Process) -> int:
    """Open files of the busiest process (each has its own limit)."""
    return max(int(member.num_fds()) for member in _tree(process))


class ClientProcess:
    """One `bench.channels_client` process and its line protocol."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.ps = psutil.Process(process.pid)
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.complete: dict[int, asyncio.Future[float]] = {}
        self.ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, log: Path) -> ClientProcess:
        with log.open("ab") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.channels_client",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                limit=1 << 26,
            )
        client = cls(process)
        await asyncio.wait_for(client.ready, START_TIMEOUT)
        return client

    async def _read(self) -> None:
        assert self.process.stdout is not None  # PIPE
        while line := await self.process.stdout.readline():
            message = orjson.loads(line)
            if "id" in message:
                future = self.pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("event") == "complete":
                self.completion(message["seq"]).set_result(message["at"])
            elif message.get("event") == "ready" and not self.ready.done():
                self.ready.set_result(message)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(RuntimeError("the load client exited"))

    def completion(self, seq: int) -> asyncio.Future[float]:
        if seq not in self.complete:
            self.complete[seq] = asyncio.get_running_loop().create_future()
        return self.complete[seq]

    async def call(self, cmd: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None  # PIPE
        command_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[command_id] = future
        self.process.stdin.write(orjson.dumps({"id": command_id, "cmd": cmd, **fields}) + b"\n")
        await self.process.stdin.drain()
        return await future

    async def quit(self) -> None:
        if self.process.returncode is None and self.process.stdin is not None:
            with contextlib.suppress(Exception):
                self.process.stdin.write(b'{"cmd": "quit"}\n')
                await self.process.stdin.drain()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.reader.cancel()


@dataclass
class ServerProcess:
    scenario: Scenario
    host: str
    port: int
    log: Path
    env: dict[str, str]
    options: Options
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        if self.scenario.key == "baseline":
            return [sys.executable, "-m", "bench.channels_baseline", "--host", self.host, "--port", str(self.port)]
        command = [sys.executable, "-m", "bench.channels_server", "--host", self.host, "--port", str(self.port)]
        if self.scenario.key == "plain":
            command.append("--plain-channel")
        if self.options.tracemalloc:
            command.append("--tracemalloc")
        return [*command, "--workers", str(self.options.workers)]

    def spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(  # our own interpreter and module
                self.command(), stdout=output, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        return self.process

    async def start(self) -> psutil.Process:
        """Start the server and wait until it answers (the app: /ready is 200)."""
        process = self.spawn()
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}:\n{_tail(self.log)}")
                if await self._ready(http):
                    return psutil.Process(process.pid)
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the server was not ready within {START_TIMEOUT:.0f} s:\n{_tail(self.log)}")

    async def _ready(self, http: httpx.AsyncClient) -> bool:
        if self.scenario.key == "baseline":
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                return False
            writer.close()
            return True
        try:
            return (await http.get(f"{self.base_url}/ready")).status_code == 200
        except httpx.TransportError:
            return False

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s: a graceful stop of N sockets is not what we measure."""
        if self.process is None or self.process.poll() is not None:
            return
        # The whole process group: uvicorn's workers too (started in a session of their own).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        for _ in range(50):
            if self.process.poll() is not None:
                break
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- One scenario ---


async def run_scenario(
    options: Options, scenario: Scenario, tokens: list[str], env: dict[str, str], workdir: Path, host: str
) -> Result:
    n = options.sockets
    result = Result(scenario=scenario, target=n, clients=max(1, math.ceil(n / PER_CLIENT)))
    result.server_log = workdir / f"server-{scenario.key}.log"
    load_before = os.getloadavg()[0]
    server = ServerProcess(scenario, host, _free_port(host), result.server_log, env, options)
    clients: list[ClientProcess] = []
    try:
        ps = await server.start()
        result.server_nofile = ps.rlimit(psutil.RLIMIT_NOFILE)
        for _ in range(result.clients):
            clients.append(await ClientProcess.start(workdir / "clients.log"))
        soft, hard = clients[0].ready.result()["nofile"]
        result.client_nofile = (soft, hard)

        def path(i: int) -> str:
            return f"/socket/websocket?vsn=2.0.0&token={tokens[i % len(tokens)]}"

        async def connect(indices: range) -> dict[str, Any]:
            answers = await asyncio.gather(
                *(
                    clients[c].call(
                        "connect",
                        host=host,
                        port=server.port,
                        topic=scenario.topic,
                        deflate=options.deflate,
                        sockets=[[i, path(i)] for i in indices if i % len(clients) == c],
                        seconds=options.join_timeout,
                    )
                    for c in range(len(clients))
                )
            )
            failed: dict[str, int] = {}
            for answer in answers:
                for reason, count in answer["failed"].items():
                    failed[reason] = failed.get(reason, 0) + count
            return {"ok": sum(a["ok"] for a in answers), "failed": failed}

        # Warm-up: the first sockets pay for lazy imports and caches, not for being held.
        warm = range(n, n + WARMUP_SOCKETS)
        answer = await connect(warm)
        if answer["ok"] == 0:
            raise RuntimeError(f"no warm-up socket could join {scenario.topic}: {answer['failed']}")
        warm_sender = await _sender(clients, warm)
        if warm_sender is not None:
            await _broadcast(clients, warm_sender, scenario.topic, -1, options.broadcast_timeout)
        for client in clients:
            await client.call("close", indices=list(warm))
        await asyncio.sleep(1.5)
        if scenario.key != "baseline" and options.gc_freeze:
            await _each_worker(server, "POST", "/_bench/freeze")
        result.rss_before = _tree_rss(ps)
        gc_before = await _gc_stats(server)
        if scenario.key != "baseline" and options.tracemalloc:
            async with httpx.AsyncClient(timeout=60) as http:
                await http.post(f"{server.base_url}/_bench/mark")

        # N sockets, in batches.
        cpu_server, cpu_clients = _tree_cpu(ps), sum(_cpu(c.ps) for c in clients)
        started = time.monotonic()
        with _progress() as progress:
            task = progress.add_task(f"{scenario.key}: joined", total=n)
            for first in range(0, n, options.batch):
                batch = range(first, min(n, first + options.batch))
                batch_started = time.monotonic()
                answer = await connect(batch)
                result.joined += answer["ok"]
                for reason, count in answer["failed"].items():
                    result.failures[reason] = result.failures.get(reason, 0) + count
                result.batches.append((result.joined, time.monotonic() - batch_started))
                progress.update(task, completed=result.joined)
                failed = sum(answer["failed"].values())
                if failed and failed >= FAILED_BATCH_SHARE * len(batch) and batch.stop < n:
                    result.stopped = f"{failed:,} of a batch of {len(batch):,} failed"
                    break
                elapsed = time.monotonic() - started
                if scenario.key == "room" and elapsed > options.presence_budget and batch.stop < n:
                    result.stopped = (
                        f"time budget: {elapsed:.0f} s > --presence-budget {options.presence_budget:.0f} s "
                        f"(the last batch of {len(batch):,} took {result.batches[-1][1]:.1f} s)"
                    )
                    break
        result.connect_seconds = time.monotonic() - started
        if scenario.key == "room":
            result.presence = await _converge(clients, result.joined, started)
        await _settle(clients)
        result.join_server_cpu = _tree_cpu(ps) - cpu_server
        result.join_client_cpu = sum(_cpu(c.ps) for c in clients) - cpu_clients
        if options.hold > 0:
            await asyncio.sleep(options.hold)
            await _settle(clients)
        result.rss_joined = _tree_rss(ps)
        result.fds_joined = _tree_fds(ps)
        result.gc_connect = _gc_diff(gc_before, await _gc_stats(server))
        if scenario.key != "baseline":
            match = os.environ.get("BENCH_TRACEMALLOC_MATCH", "")
            answers = await _each_worker(server, "GET", "/_bench/stats", params={"match": match})
            stats = answers[0]
            result.tasks = sum(answer["tasks"] for answer in answers)
            for answer in answers:
                for kind, count in answer["task_kinds"].items():
                    result.task_kinds[kind] = result.task_kinds.get(kind, 0) + count
            for key in ("tracemalloc_lineno", "tracemalloc_filename", "tracemalloc_match", "tracemalloc_total"):
                if key in stats:
                    result.debug[key] = stats[key]

        # Broadcasts from socket #0 (or the first that joined).
        sender = await _sender(clients, range(n))
        if sender is None:
            raise RuntimeError("no socket is joined")
        await _broadcast(clients, sender, scenario.topic, 0, options.broadcast_timeout)  # untimed
        gc_before = await _gc_stats(server)
        if options.profile and scenario.key != "baseline":
            async with httpx.AsyncClient(timeout=60) as http:
                await http.post(f"{server.base_url}/_bench/profile/start")
        for seq in range(1, options.broadcasts + 1):
            cpu_server, cpu_clients, wall = _tree_cpu(ps), sum(_cpu(c.ps) for c in clients), time.monotonic()
            latencies, missing = await _broadcast(clients, sender, scenario.topic, seq, options.broadcast_timeout)
            result.server_cpu += _tree_cpu(ps) - cpu_server
            result.client_cpu += sum(_cpu(c.ps) for c in clients) - cpu_clients
            result.broadcast_wall += time.monotonic() - wall
            result.latencies.extend(latencies)
            result.missing += missing
            if latencies:
                result.reach_all.append(max(latencies))
            await asyncio.sleep(0.2)
        result.gc_broadcast = _gc_diff(gc_before, await _gc_stats(server))
        if options.profile and scenario.key != "baseline":
            async with httpx.AsyncClient(timeout=120) as http:
                result.debug["profile"] = (await http.post(f"{server.base_url}/_bench/profile/stop")).json()
        result.rss_end = _tree_rss(ps)
        result.oldest_age = time.monotonic() - started
        for client in clients:
            stats = await client.call("stats")
            result.lost_after_join += stats["lost_after_join"]
            result.heartbeats += stats["heartbeats"]
            result.heartbeat_replies += stats["heartbeat_replies"]
            result.client_rss = max(result.client_rss, stats["max_rss_kb"] * 1024)
            for code, count in stats["close_codes"].items():
                result.close_codes[code] = result.close_codes.get(code, 0) + count
        if server.process is not None and server.process.poll() is not None:
            result.stopped = (result.stopped or "") + f"; the server exited ({server.process.returncode})"
    finally:
        result.load = (load_before, os.getloadavg()[0])
        await server.stop()
        for client in clients:
            await client.quit()
    return result


async def _each_worker(
    server: ServerProcess, method: str, path: str, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """One answer from each of the app server's workers (they share the port: the kernel picks one
    per connection, so ask on fresh connections until every worker's pid has answered)."""
    answers: dict[int, dict[str, Any]] = {}
    for _ in range(200):
        async with httpx.AsyncClient(timeout=120) as http:
            answer: dict[str, Any] = (await http.request(method, f"{server.base_url}{path}", params=params)).json()
        answers.setdefault(answer["pid"], answer)
        if len(answers) >= server.options.workers:
            return list(answers.values())
    raise RuntimeError(f"only {len(answers)} of {server.options.workers} workers answered {path}")


async def _gc_stats(server: ServerProcess) -> dict[str, Any]:
    """The app server's cumulative GC work, summed over its workers (nothing for the baseline server)."""
    if server.scenario.key == "baseline":
        return {}
    answers = await _each_worker(server, "GET", "/_bench/gc")
    return {
        "collections": [sum(a["collections"][g] for a in answers) for g in range(3)],
        "seconds": [sum(a["seconds"][g] for a in answers) for g in range(3)],
        "longest": [max(a["longest"][g] for a in answers) for g in range(3)],
    }


def _gc_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    if not before or not after:
        return {}
    return {
        "collections": [a - b for a, b in zip(after["collections"], before["collections"], strict=True)],
        "seconds": [a - b for a, b in zip(after["seconds"], before["seconds"], strict=True)],
        "longest": after["longest"],  # since the server started
    }


def _describe_gc(work: dict[str, Any]) -> str:
    if not work:
        return "–"
    return (
        ", ".join(f"gen{g}: {work['collections'][g]:,} in {work['seconds'][g]:.2f} s" for g in range(3))
        + f" (longest full collection so far {work['longest'][2] * 1000:,.0f} ms)"
    )


async def _sender(clients: list[ClientProcess], indices: range) -> int | None:
    """The lowest socket index that is joined (socket #0 unless it failed)."""
    for i in indices:
        answer = await clients[i % len(clients)].call("joined", index=i)
        if answer.get("joined"):
            return i
    return None


async def _broadcast(
    clients: list[ClientProcess], sender: int, topic: str, seq: int, seconds: float
) -> tuple[list[float], int]:
    """Push `new_msg` from `sender`; every receiving socket's latency in seconds, and how many never got it."""
    expected = [(await client.call("arm", seq=seq))["expected"] for client in clients]
    answer = await clients[sender % len(clients)].call("push", index=sender, topic=topic, body=f"bench-{seq}")
    if "error" in answer:
        raise RuntimeError(answer["error"])
    sent_at = answer["sent_at"]
    waiting = [client.completion(seq) for client, count in zip(clients, expected, strict=True) if count]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*waiting), seconds)
    latencies: list[float] = []
    missing = 0
    for client in clients:
        collected = await client.call("collect", seq=seq)
        latencies.extend(t - sent_at for t in collected["times"])
        missing += collected["missing"]
        client.complete.pop(seq, None)
    return latencies, missing


async def _converge(clients: list[ClientProcess], expected: int, started: float) -> dict[str, Any]:
    """Wait until every joined socket's presence list shows `expected` users, or nothing arrives for
    `QUIET` seconds; how many got there, when the last did (seconds after the first join), the others' sizes."""
    deadline = time.monotonic() + SETTLE_MAX
    previous, quiet_since = -1, time.monotonic()
    while True:
        answers = await asyncio.gather(*(client.call("presence", expected=expected) for client in clients))
        converged = sum(answer["converged"] for answer in answers)
        frames = sum(answer["frames"] for answer in await asyncio.gather(*(c.call("stats") for c in clients)))
        now = time.monotonic()
        if frames != previous:
            previous, quiet_since = frames, now
        if converged >= expected or now - quiet_since >= QUIET or now >= deadline:
            break
        await asyncio.sleep(0.2)
    lasts = [answer["last_converged_at"] for answer in answers if answer["last_converged_at"] is not None]
    others: dict[str, int] = {}
    for answer in answers:
        for size, count in answer["others"].items():
            others[size] = others.get(size, 0) + count
    return {
        "converged": converged,
        "expected": expected,
        "last": max(lasts) - started if lasts else math.nan,
        "others": others,
        "frames_parsed": sum(answer["frames_parsed"] for answer in answers),
        "parse_seconds": sum(answer["parse_seconds"] for answer in answers),
    }


async def _settle(clients: list[ClientProcess]) -> None:
    """Wait until no frame but heartbeat replies arrived for a second (Presence diffs flow after the last join)."""
    deadline = time.monotonic() + SETTLE_MAX
    previous = -1
    while time.monotonic() < deadline:
        answers = await asyncio.gather(*(client.call("stats") for client in clients))
        frames = sum(answer["frames"] for answer in answers)
        if frames == previous:
            return
        previous = frames
        await asyncio.sleep(1.0)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        refresh_per_second=4,
    )


# --- Set-up ---


def create_users(bench_db: database.Database, count: int) -> list[tuple[str, str]]:
    """`count` confirmed users (no password: they only ever use socket tokens), each with an API token
    row for its socket token to be bound to; (user id, credential id) in order."""
    with psycopg.connect(bench_db.url, autocommit=True) as conn:
        rows = conn.execute(
            "INSERT INTO users (id, email, name, confirmed_at)"
            " SELECT gen_random_uuid(), 'bench-' || i || '@example.com', 'Bench user ' || i, now()"
            " FROM generate_series(1, %s) AS i RETURNING id, email",
            (count,),
        ).fetchall()
        # The token bytes only need to be unique: nobody ever presents them, sockets name the row.
        credentials: dict[Any, Any] = dict(
            conn.execute(
                "INSERT INTO user_tokens (id, token, context, user_id, authenticated_at)"
                " SELECT gen_random_uuid(), decode(md5(id::text), 'hex'), 'api', id, now() FROM users"
                " WHERE email LIKE 'bench-%%@example.com' RETURNING user_id, id"
            ).fetchall()
        )
    by_number = {int(email.split("@")[0].removeprefix("bench-")): user_id for user_id, email in rows}
    return [(str(by_number[i]), str(credentials[by_number[i]])) for i in range(1, count + 1)]


def sign_tokens(settings: Settings, users: list[tuple[str, str]]) -> list[str]:
    """One socket token per user, each bound to its own credential (as the API issues them)."""
    return [
        socket_token.sign(settings, uuid.UUID(user_id), uuid.UUID(credential_id)) for user_id, credential_id in users
    ]


def server_env(settings: Settings, bench_db: database.Database) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)  # PubSub on PostgreSQL LISTEN/NOTIFY, the default adapter
    env.update(
        {
            "MYAPP_ENV": "dev",
            "DATABASE_URL": bench_db.url,
            "JOBS_IN_SERVER": "false",
            "SECRET_KEY_BASE": settings.secret_key_base or "",
            "LOG_LEVEL": "WARNING",  # no INFO line per accepted socket
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# --- Report ---


def _ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:,.0f}" if seconds >= 0.1 else f"{seconds * 1000:,.1f}"


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f}"


def _kb_per_socket(result: Result) -> float:
    return (result.rss_joined - result.rss_before) / result.joined / 1024 if result.joined else math.nan


def report_setup(options: Options, where: str, results: list[Result]) -> None:
    table = Table(title="Setup", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("Python", f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    libraries = ("uvicorn", "websockets", "uvloop", "httptools", "fastapi", "starlette", "orjson")
    table.add_row("libraries", ", ".join(f"{name} {metadata.version(name)}" for name in libraries))
    memory = psutil.virtual_memory()
    table.add_row(
        "machine",
        f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{memory.total / 2**30:.1f} GiB RAM",
    )
    table.add_row("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()) + " at the end (1, 5, 15 min)")
    table.add_row("N (sockets)", f"{options.sockets:,}, in batches of {options.batch:,} connecting at once")
    limits = {(r.server_nofile, r.client_nofile) for r in results}
    for server_limit, client_limit in sorted(limits):
        table.add_row(
            "open files (soft, hard)",
            f"server {server_limit[0]:,}/{server_limit[1]:,}, each load client {client_limit[0]:,}/{client_limit[1]:,} "
            "(raised to the hard limit; above it needs CAP_SYS_RESOURCE)",
        )
    clients = results[0].clients if results else 0
    table.add_row(
        "load client",
        f"bench.channels_client in {clients} process(es) of at most {PER_CLIENT:,} sockets: one asyncio.Protocol "
        "per socket on uvloop, own framing, "
        + (
            "[yellow]permessage-deflate offered (as browsers do)[/yellow]"
            if options.deflate
            else "no compression offered"
        )
        + ", heartbeat every 30 s per socket from its join",
    )
    table.add_row(
        "app server",
        f"myapp server --workers {options.workers} (uvicorn, uvloop, httptools, websockets-sansio, the app factory) "
        "on its own "
        f"database; MYAPP_ENV=dev, JOBS_IN_SERVER=false, LOG_LEVEL=WARNING, PubSub on PostgreSQL; {where}",
    )
    threshold = options.gc_threshold if options.gc_threshold is not None else Settings().gc_threshold
    gc_setup = f"GC_THRESHOLD={threshold} (young collections every {threshold or 700:,} allocations)"
    if options.gc_threshold is not None:
        gc_setup = f"[yellow]experiment: {gc_setup}[/yellow]"
    if options.gc_freeze:
        gc_setup += "; [yellow]experiment: gc.freeze() after the warm-up[/yellow]"
    table.add_row("app server GC", gc_setup)
    table.add_row(
        "tokens",
        "socket_token.sign(settings, user.id, credential id) with the server's SECRET_KEY_BASE, one user per socket, "
        "each token bound to its own credential (so each socket also watches its socket-id topic)",
    )
    table.add_row(
        "measured",
        f"{options.broadcasts} broadcasts after an untimed one: `new_msg` pushed by socket #0; latency = arrival "
        "at each socket − send time (CLOCK_MONOTONIC across processes); RSS by psutil after a warm-up of "
        f"{WARMUP_SOCKETS} sockets and after the N joined and the server went quiet",
    )
    table.add_row(
        "server limits",
        f"heartbeat timeout {connection.HEARTBEAT_TIMEOUT:.0f} s, send queue {connection.SEND_QUEUE_SIZE} frames",
    )
    console.print(table)


def report_results(options: Options, results: list[Result]) -> None:
    table = Table(title="Results", title_justify="left")
    table.add_column("measurement")
    for r in results:
        table.add_column(r.scenario.label, justify="right")

    def row(label: str, value: Any) -> None:
        table.add_row(label, *(value(r) for r in results))

    row("sockets joined / N", lambda r: f"{r.joined:,} / {r.target:,}")
    row("connecting and joining, s", lambda r: f"{r.connect_seconds:.1f}")
    if any(r.presence for r in results):
        row(
            "[bold]presence lists converged[/bold]",
            lambda r: f"[bold]{r.presence['converged']:,} / {r.presence['expected']:,}[/bold]" if r.presence else "–",
        )
        row(
            "[bold]last list converged, s after the first join[/bold]",
            lambda r: f"[bold]{r.presence['last']:.1f}[/bold]" if r.presence else "–",
        )
    row("server CPU s (joining)", lambda r: f"{r.join_server_cpu:.1f}")
    row("load client CPU s (joining)", lambda r: f"{r.join_client_cpu:.1f}")
    row("server RSS before, MB", lambda r: _mb(r.rss_before))
    row("server RSS all joined, MB", lambda r: _mb(r.rss_joined))
    row("[bold]memory per socket, KB[/bold]", lambda r: f"[bold]{_kb_per_socket(r):,.1f}[/bold]")
    row("server asyncio tasks, all joined", lambda r: f"{r.tasks:,}" if r.tasks is not None else "–")
    row("[bold]per socket: p50 ms[/bold]", lambda r: f"[bold]{_ms(percentile(r.latencies, 0.50))}[/bold]")
    row("[bold]per socket: p99 ms[/bold]", lambda r: f"[bold]{_ms(percentile(r.latencies, 0.99))}[/bold]")
    row("reach all: median ms", lambda r: _ms(percentile(r.reach_all, 0.50)))
    row("reach all: max ms", lambda r: _ms(max(r.reach_all) if r.reach_all else math.nan))
    row("server CPU s (broadcasts)", lambda r: f"{r.server_cpu:.2f}")
    row("load client CPU s (broadcasts)", lambda r: f"{r.client_cpu:.2f}")
    row("wall s (broadcasts)", lambda r: f"{r.broadcast_wall:.2f}")
    row(
        "client CPU ÷ server CPU",
        lambda r: f"{r.client_cpu / r.server_cpu:.2f}" if r.server_cpu > 0 else "–",
    )
    console.print(table)

    details = Table(title="Per scenario", title_justify="left", show_header=False)
    details.add_column(style="bold", no_wrap=True)
    details.add_column()
    for r in results:
        lines = [
            f"server fds with all joined {r.fds_joined:,} (limit {r.server_nofile[0]:,}); RSS after the broadcasts "
            f"{_mb(r.rss_end)} MB; load clients' peak RSS {_mb(r.client_rss)} MB each at most",
            f"sockets lost after joining: {r.lost_after_join:,}; close codes received: {r.close_codes or 'none'}; "
            f"heartbeats sent {r.heartbeats:,}, replies {r.heartbeat_replies:,}; "
            f"oldest socket {r.oldest_age:.0f} s old at the end",
            f"broadcasts never received: {r.missing:,} (socket × broadcast)",
            f"machine load (1 min) {r.load[0]:.2f} before, {r.load[1]:.2f} after"
            + (" [yellow](busy: other processes shared the 2 CPUs)[/yellow]" if max(r.load) > 1.5 else ""),
        ]
        if r.gc_connect:
            lines.append(f"GC while joining: {_describe_gc(r.gc_connect)}")
            lines.append(f"GC during the broadcasts: {_describe_gc(r.gc_broadcast)}")
        if r.server_cpu > 0:
            lines.append(
                f"during the broadcasts: server {r.server_cpu / r.broadcast_wall:.0%} of a core, load client(s) "
                f"{r.client_cpu / r.broadcast_wall:.0%} of a core in total; client CPU ÷ server CPU "
                f"{r.client_cpu / r.server_cpu:.2f}"
            )
        if r.presence:
            p = r.presence
            lines.append(
                f"presence: {p['converged']:,} of {p['expected']:,} sockets list every joined user, the last "
                f"{p['last']:.1f} s after the first join; the others list "
                + (", ".join(f"{n:,}× {size}" for size, n in p["others"].items()) or "–")
                + f" (-1: no presence_state); the load clients parsed {p['frames_parsed']:,} distinct presence "
                f"frames in {p['parse_seconds']:.1f} CPU s"
            )
        if r.join_server_cpu > 0:
            lines.append(
                f"while joining (until the lists converged): server {r.join_server_cpu:.1f} CPU s, load client(s) "
                f"{r.join_client_cpu:.1f} CPU s; client ÷ server {r.join_client_cpu / r.join_server_cpu:.2f}"
            )
        if r.failures:
            lines.append("failed joins: " + ", ".join(f"{reason}: {count:,}" for reason, count in r.failures.items()))
        if r.stopped:
            lines.append(f"[yellow]stopped connecting early: {r.stopped}[/yellow]")
        if r.log_summary:
            lines.append("server log, most frequent warnings/errors: " + "; ".join(r.log_summary))
        if r.task_kinds:
            lines.append("server tasks by coroutine: " + ", ".join(f"{k} {v:,}" for k, v in r.task_kinds.items()))
        if r.batches and r.scenario.key == "room":
            step = max(1, len(r.batches) // 8)
            ramp = [r.batches[i] for i in range(0, len(r.batches), step)]
            if r.batches[-1] not in ramp:
                ramp.append(r.batches[-1])
            lines.append("batch seconds by sockets joined: " + ", ".join(f"{j:,}: {s:.1f}" for j, s in ramp))
        details.add_row(r.scenario.label, "\n".join(lines))
    console.print(details)

    for r in results:
        for key in ("tracemalloc_filename", "tracemalloc_lineno", "tracemalloc_match"):
            if key not in r.debug:
                continue
            total = r.debug.get("tracemalloc_total", 0) / r.joined / 1024 if r.joined else math.nan
            top = Table(
                title=f"tracemalloc by {key.removeprefix('tracemalloc_')}, {r.scenario.label}: growth from before "
                f"connecting to all joined ({total:.1f} KB/socket traced in all)",
                title_justify="left",
            )
            for column in ("where", "KB", "KB / socket", "blocks"):
                top.add_column(column, justify="left" if column == "where" else "right")
            for where, size, count in r.debug[key]:
                per = size / r.joined / 1024 if r.joined else math.nan
                top.add_row(where.replace(sys.prefix, "…"), f"{size / 1024:,.0f}", f"{per:.2f}", f"{count:,}")
            console.print(top)
        if "profile" in r.debug:
            console.print(f"[bold]cProfile of the server during the broadcasts, {r.scenario.label}[/bold]")
            console.print(r.debug["profile"]["tottime"], markup=False, highlight=False)

    baseline = next((r for r in results if r.scenario.key == "baseline"), None)
    for r in results:
        if r is baseline or not r.latencies:
            continue
        line = (
            f"[bold]{r.scenario.label}: {r.joined:,} sockets joined, {_kb_per_socket(r):,.1f} KB/socket, "
            f"one broadcast reaches them all in {_ms(percentile(r.reach_all, 0.5))} ms (median; worst "
            f"{_ms(max(r.reach_all))} ms), per socket p50 {_ms(percentile(r.latencies, 0.5))} ms, "
            f"p99 {_ms(percentile(r.latencies, 0.99))} ms[/bold]"
        )
        comparable = baseline is not None and abs(baseline.joined - r.joined) <= 0.01 * max(r.joined, 1)
        if baseline is not None and baseline.latencies and comparable:
            line += (
                f" — ÷ baseline: memory {_kb_per_socket(r) / _kb_per_socket(baseline):.1f}×, reach-all "
                f"{percentile(r.reach_all, 0.5) / percentile(baseline.reach_all, 0.5):.1f}×"
            )
        console.print(line)
    targets = [r for r in results if r.scenario.key in ("plain", "room")]
    for r in targets:
        held = "met" if r.joined >= 20_000 else "not met"
        memory = "met" if _kb_per_socket(r) <= 30 else "not met"
        console.print(
            f"targets for {r.scenario.label}: 20,000 sockets {held} ({r.joined:,}); ≤ 30 KB/socket {memory} "
            f"({_kb_per_socket(r):,.1f})"
        )


# --- Main ---


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.channels_scale",
        description="Joined sockets on one node, memory per socket, and a broadcast's time to reach them all.",
    )
    parser.add_argument("--sockets", type=int, default=20_000, help="N: sockets to open and join (default 20,000)")
    parser.add_argument("--broadcasts", type=int, default=20, help="K: measured broadcasts (default 20)")
    parser.add_argument("--batch", type=int, default=500, help="sockets connecting at once (default 500)")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="the app server's worker processes, `myapp server --workers` (default 2: one per core here; "
        "each process may hold at most the open-files limit of sockets)",
    )
    parser.add_argument(
        "--scenarios",
        default="baseline,plain,room",
        help="comma-separated, in order: baseline, plain (app without Presence), room (room:lobby)",
    )
    parser.add_argument("--join-timeout", type=float, default=60.0, help="seconds for one socket to join (60)")
    parser.add_argument("--broadcast-timeout", type=float, default=60.0, help="seconds for one broadcast (60)")
    parser.add_argument(
        "--presence-budget",
        type=float,
        default=150.0,
        help="room:lobby stops adding batches after this many seconds (default 150): each join costs a "
        "presence_diff to every socket already joined",
    )
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to hold all sockets before measuring")
    parser.add_argument("--profile", action="store_true", help="debug: cProfile the app server's broadcasts")
    parser.add_argument("--tracemalloc", action="store_true", help="debug: trace the app server's allocations")
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=None,
        help="experiment: the app server's GC_THRESHOLD (default: the app's, 50000; 0 = Python's 700)",
    )
    parser.add_argument(
        "--gc-freeze", action="store_true", help="experiment: the app server calls gc.freeze() after the warm-up"
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="the load client offers permessage-deflate, as browsers do (the servers accept it by default)",
    )
    parser.add_argument(
        "--logs",
        type=Path,
        default=None,
        help="keep the servers' and clients' logs in this folder (default: a temp one)",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database in place afterwards")
    parser.add_argument(
        "--database",
        default=BENCH_DATABASE,
        help=f"the scratch database's name (default {BENCH_DATABASE}; dropped first and at the end)",
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    keys = tuple(key for key in SCENARIOS if key in names)
    if not names or len(keys) != len(set(names)):
        parser.error(f"--scenarios takes a comma-separated list of {', '.join(SCENARIOS)}")
    if min(args.sockets, args.batch) < 1 or args.broadcasts < 1:
        parser.error("--sockets, --batch and --broadcasts must be at least 1")
    return Options(
        workers=args.workers,
        sockets=args.sockets,
        broadcasts=args.broadcasts,
        batch=args.batch,
        scenarios=keys,
        join_timeout=args.join_timeout,
        broadcast_timeout=args.broadcast_timeout,
        presence_budget=args.presence_budget,
        hold=args.hold,
        profile=args.profile,
        tracemalloc=args.tracemalloc,
        gc_threshold=args.gc_threshold,
        gc_freeze=args.gc_freeze,
        deflate=args.deflate,
        logs=args.logs,
        keep_db=args.keep_db,
        database=args.database,
    )


@contextlib.contextmanager
def _workdir(logs: Path | None) -> Iterator[Path]:
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
        yield logs
        return
    with tempfile.TemporaryDirectory(prefix="channels-scale-") as name:
        yield Path(name)


def _log_summary(path: Path, limit: int = 5) -> list[str]:
    """The most frequent warning and error lines of a server log, ids and numbers blanked."""
    counts: dict[str, int] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    for raw in text.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", raw).strip()  # the console log's colours
        if re.match(r"^[A-Za-z_.]+(Error|Exception): ", line) and "(Background" not in line:
            pass  # the exception that ended a traceback
        elif not re.match(r"^\S+\s+\[(warning|error|critical)", line):
            continue  # only log records' first lines, not traceback boxes
        line = re.sub(r"\s+request_id=\S+", "", line.split("]", 1)[-1]).strip()
        key = re.sub(r"[0-9a-f]{8,}|\d+(\.\d+)?", "#", line)[:160]
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: -item[1])[:limit]
    return [f"{count:,}× {line}" for line, count in ordered]


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    raise_open_files_limit()
    base = Settings(env="dev")  # DATABASE_URL (environment or .env), else the embedded server
    with console.status(f"preparing database {options.database} with {options.sockets:,} users…"):
        bench_db = scratch_database(base, options.database)
        settings = Settings(env="dev", database_url=bench_db.url, jobs_in_server=False)
        tokens = sign_tokens(settings, create_users(bench_db, options.sockets))
    where = describe_database(bench_db, base)
    console.print(f"benchmarking on {where}: N={options.sockets:,}, scenarios {', '.join(options.scenarios)}")
    results: list[Result] = []
    try:
        with _workdir(options.logs) as workdir:
            env = server_env(settings, bench_db)
            if options.gc_threshold is not None:
                env["GC_THRESHOLD"] = str(options.gc_threshold)
            for key in options.scenarios:
                result = asyncio.run(run_scenario(options, SCENARIOS[key], tokens, env, workdir, "127.0.0.1"))
                results.append(result)
                kb = _kb_per_socket(result)
                console.print(
                    f"{result.scenario.label}: {result.joined:,} joined, {kb:,.1f} KB/socket, reach-all median "
                    f"{_ms(percentile(result.reach_all, 0.5))} ms"
                )
                if result.server_log is not None:
                    result.log_summary = _log_summary(result.server_log)
    finally:
        if not options.keep_db:
            database.drop(bench_db)
    report_setup(options, where, results)
    report_results(options, results)
    return 0 if all(r.joined and r.latencies for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
