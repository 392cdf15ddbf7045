"""A production-like cluster on this machine: two `myapp server` nodes and a `myapp worker` on one database.

`running_cluster(directory)` starts, with MYAPP_ENV=prod, what a deployment behind a load balancer
runs: node A and node B (`myapp server` on two free loopback ports), one `myapp worker`, all on a
migrated database of the test's own (`partition_database`), with the same SECRET_KEY_BASE, the
shared catalog cache in Redis (CACHE_URL) and PubSub on PostgreSQL (no REDIS_URL: the default
deployment). Emails go to a real SMTP server in the test process (`Cluster.inbox`). The first admin
is created as an operator creates one: `myapp users create --admin`.

The test plays the load balancer: `ProxiedClient` sends `X-Forwarded-Proto: https` from 127.0.0.1
(the nodes' TRUSTED_PROXIES), as nginx does in front of them, and keeps the session cookie itself:
prod cookies are `Secure`, and httpx's cookie jar never sends those over plain http. `LiveStream`
reads a live page's Server-Sent Events over a real connection, noting when each event arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import redis
from psycopg.conninfo import conninfo_to_dict

from tests.support.databases import partition_database
from tests.support.live_server import ServerProcess
from tests.support.processes import MYAPP, PROJECT_ROOT, child_env, free_port, stop, wait_until
from tests.support.services import redis_url
from tests.support.smtp import FreePortController, Inbox

# What the load balancer adds to every request it forwards (nginx: `proxy_set_header X-Forwarded-Proto $scheme`).
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
# The page's origin, as a browser on https://APP_HOST sends it with a socket upgrade.
APP_HOST = "localhost"
ORIGIN = f"https://{APP_HOST}"
ADMIN_EMAIL = "operator@example.com"
ADMIN_PASSWORD = "an operator's long passphrase"  # a throwaway account in a throwaway database
# Sign-ups, log-ins and email requests come from one address (the test) by the hundred.
NO_RATE_LIMIT = "1000000/minute"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0


@dataclass
class WorkerProcess:
    """`myapp worker` with `env`; its output goes to `log`."""

    log: Path
    env: Mapping[str, str | None]
    process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [str(MYAPP), "worker"],
                cwd=PROJECT_ROOT,
                env=child_env(self.env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        """Wait until the worker says its queues run; fails with its output if it exits first."""
        process = self.process
        assert process is not None, "the worker was never started"

        def running() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the worker exited with {process.returncode}:\n{self.output()}")
            return "job worker running" in self.output()

        wait_until(running, timeout=START_TIMEOUT, message="the worker never said it was running")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, STOP_TIMEOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    node_a: ServerProcess
    node_b: ServerProcess
    worker: WorkerProcess
    database_url: str  # libpq URL of the cluster's database, for checks made directly in it
    inbox: Inbox  # every email the cluster sent
    cache_namespace: str  # the nodes' key prefix in Redis

    def logs(self) -> str:
        """Every process's output, for a failure message."""
        return "\n".join(
            f"--- {name} ---\n{process.output()}"
            for name, process in (("node A", self.node_a), ("node B", self.node_b), ("worker", self.worker))
        )


def prod_env(*, database_url: str, secret_key_base: str, smtp_port: int, cache_url: str) -> dict[str, str | None]:
    """The environment every process of the cluster shares: production mode, as README's table sets it."""
    return {
        "MYAPP_ENV": "prod",
        "DATABASE_URL": database_url,
        "DATABASE_SSL": "disable",  # the local PostgreSQL has no TLS; a managed one would use verify-full
        # Small pools: the test PostgreSQL (100 connections) serves every test session on the machine.
        "POOL_SIZE": "5",
        "MAX_OVERFLOW": "3",
        "JOB_POOL_SIZE": "3",
        "SECRET_KEY_BASE": secret_key_base,  # the same on every node: a session signed by A is read by B
        "APP_HOST": APP_HOST,
        "BIND_HOST": "127.0.0.1",  # prod listens on every interface; a test keeps to loopback
        "TRUSTED_HOSTS": f"127.0.0.1,{APP_HOST}",
        "TRUSTED_PROXIES": "127.0.0.1",
        "CACHE_URL": cache_url,
        "REDIS_URL": None,  # PubSub and Presence over PostgreSQL LISTEN/NOTIFY
        "JOBS_IN_SERVER": "false",
        "MAILER_ADAPTER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "BCRYPT_ROUNDS": "4",
        "RATE_LIMIT_REGISTRATION": NO_RATE_LIMIT,
        "RATE_LIMIT_LOGIN": NO_RATE_LIMIT,
        "RATE_LIMIT_EMAIL_REQUESTS": NO_RATE_LIMIT,
        # The test run's own database settings must not reach a prod process.
        "MYAPP_TEST_PARTITION": None,
        "MYAPP_TEST_RUN": None,
        "LOG_FORMAT": None,
        "LOG_LEVEL": None,
    }


@contextmanager
def running_cluster(directory: Path, *, node_b_runs_jobs: bool = False) -> Iterator[Cluster]:
    """Nodes A and B and a worker, ready, on a database and SMTP server of their own; all gone on exit.

    `node_b_runs_jobs`: node B runs job workers too (JOBS_IN_SERVER=true), competing with the worker.
    """
    cache_url = redis_url()  # skipped without Redis, failed without it under CI=true
    inbox = Inbox()
    smtp = FreePortController(inbox, hostname="127.0.0.1", port=0)
    smtp.start()
    try:
        with partition_database() as (_partition, database):
            env = prod_env(
                database_url=database.url,
                secret_key_base=secrets.token_urlsafe(64),
                smtp_port=smtp.port,
                cache_url=cache_url,
            )
            cluster = Cluster(
                node_a=ServerProcess(port=free_port(), log=directory / "node-a.log", env=env),
                node_b=ServerProcess(
                    port=free_port(),
                    log=directory / "node-b.log",
                    env={**env, "JOBS_IN_SERVER": str(node_b_runs_jobs).lower()},
                ),
                worker=WorkerProcess(log=directory / "worker.log", env=env),
                database_url=database.url,
                inbox=inbox,
                cache_namespace=f"my_app:{conninfo_to_dict(database.url).get('dbname')}",
            )
            try:
                # Side by side: each start is seconds of imports, and the machine has few CPUs.
                cluster.node_a.spawn()
                cluster.node_b.spawn()
                cluster.worker.spawn()
                create_admin(env)
                cluster.node_a.wait_ready()
                cluster.node_b.wait_ready()
                cluster.worker.wait_ready()
                yield cluster
            finally:
                for process in (cluster.node_a, cluster.node_b, cluster.worker):
                    process.stop()
                forget_cache(cache_url, cluster.cache_namespace)
    finally:
        smtp.stop()


def create_admin(env: Mapping[str, str | None]) -> None:
    """The first admin, made as an operator makes it (`myapp users create --admin`)."""
    created = subprocess.run(
        [str(MYAPP), "users", "create", ADMIN_EMAIL, "--name", "Olga Operator", "--admin", "--password-stdin"],
        cwd=PROJECT_ROOT,
        env=child_env(env),
        input=f"{ADMIN_PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert created.returncode == 0, f"myapp users create failed:\n{created.stdout}{created.stderr}"


def forget_cache(url: str, namespace: str) -> None:
    """Delete the cluster's keys from the shared Redis (its own namespace only: nothing else is flushed)."""
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)


# --- A client behind the load balancer ---


class ProxiedClient:
    """An httpx client as the load balancer forwards it: `X-Forwarded-Proto: https`, Secure cookies kept here."""

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, headers={**PROXY_HEADERS, **(headers or {})}, timeout=REQUEST_TIMEOUT
        )
        self.cookies: dict[str, str] = {}

    async def __aenter__(self) -> ProxiedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    def cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())} if self.cookies else {}

    def keep_cookies(self, response: httpx.Response) -> None:
        for line in response.headers.get_list("set-cookie"):
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(line)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        response = await self.http.request(method, path, headers={**self.cookie_header(), **(headers or {})}, **kwargs)
        self.keep_cookies(response)
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    @asynccontextmanager
    async def live(self, path: str) -> AsyncIterator[LiveStream]:
        """`path`'s live stream (the page's EventSource), read in the background until the block ends."""
        headers = {**self.cookie_header(), "Accept": "text/event-stream"}
        async with self.http.stream(
            "GET", path, headers=headers, timeout=httpx.Timeout(REQUEST_TIMEOUT, read=None)
        ) as response:
            stream = LiveStream(response)
            reading = asyncio.create_task(stream.read())
            try:
                yield stream
            finally:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading


@dataclass(frozen=True)
class ArrivedEvent:
    arrived: float  # time.monotonic() when its last line came in
    event: str
    data: str


@dataclass
class LiveStream:
    """The events of one SSE response, as they arrive (comments and the `retry:` line left out)."""

    response: httpx.Response
    events: asyncio.Queue[ArrivedEvent] = field(default_factory=asyncio.Queue)

    async def read(self) -> None:
        name, data = "message", []
        async for line in self.response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "":
                if data:
                    await self.events.put(ArrivedEvent(time.monotonic(), name, "\n".join(data)))
                name, data = "message", []

    async def next_event(self, within: float) -> ArrivedEvent:
        """The next event; TimeoutError if none comes within `within` seconds."""
        return await asyncio.wait_for(self.events.get(), within)
