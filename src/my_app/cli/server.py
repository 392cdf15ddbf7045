"""`myapp server`: the web endpoint on uvicorn (mix phx.server)."""

from __future__ import annotations

import atexit
import gc
import os
import signal
from types import FrameType
from typing import Annotated

import typer

from my_app.cli._output import console
from my_app.cli.db import prepare, target

APP_FACTORY = "my_app_web.asgi:create_app"
# The largest WebSocket message uvicorn reads (its default is 16 MiB). The socket transport refuses
# frames over 64 KB with its own close reason; this only bounds what it must read to say so.
WEBSOCKET_MAX_BYTES = 1 << 20


def server(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: BIND_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default: PORT, 4000).")] = None,
    reload: Annotated[bool, typer.Option("--reload", help="Restart when code changes (dev).")] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: WEB_CONCURRENCY, 1); each is a PubSub node.")
    ] = None,
    setup: Annotated[
        bool, typer.Option("--setup", help="First create and migrate the database, and seed it in dev.")
    ] = False,
) -> None:
    """Serve the app (mix phx.server). Ctrl-C or SIGTERM stops it gracefully.

    Examples:

      myapp server

      myapp server --setup --reload

      PORT=4001 myapp server --workers 2

      METRICS_PORT=9100 myapp server --workers 4   (Prometheus text of all workers on :9100)
    """
    # No garbage collection while the server and the app load: all of it lives as long as the
    # process. The app's factory turns it back on once the app is built (my_app_web.asgi).
    gc.disable()
    # Imported here, not at the top: every `myapp` command loads this module to list its options.
    import uvicorn

    from my_app import metrics_export
    from my_app.config import get_settings

    # Each worker is a process of its own: a node for PubSub and Presence (they meet through
    # PostgreSQL or Redis), with its own open-files limit for sockets.
    settings = get_settings()
    if workers and workers != settings.web_concurrency:
        # The workers read their settings themselves: they must know how many serve (a `mem://` cache
        # is per process, so Settings refuses it, or leaves the cache off, with more than one).
        os.environ["WEB_CONCURRENCY"] = str(workers)
        get_settings.cache_clear()
        settings = get_settings()
    # Resolving starts the embedded PostgreSQL if needed; this process holds it until exit, and
    # the worker processes uvicorn spawns inherit its address through the environment.
    db = prepare(settings, seed=True) if setup else target(settings)
    bind_host = host or settings.bind_host
    bind_port = port if port is not None else settings.port
    where = "embedded PostgreSQL" if db.embedded else "PostgreSQL"
    if settings.env == "prod":
        # Behind a proxy: where it listens, and the public address the app builds links on.
        address = f"listening on {bind_host}:{bind_port} for {settings.url_scheme}://{settings.app_host}"
    else:
        address = f"on [link]http://{settings.app_host}:{bind_port}[/link]"
    console.print(
        f"[bold]MyApp[/bold] ({settings.env}) {address} · {where}, database {db.name}",
        highlight=False,
        soft_wrap=True,  # one line in a container's or journald's log, whatever the terminal width
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal with the handler it found.
    # Make that handler a normal exit, so atexit hooks run (releasing the embedded PostgreSQL).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    if reload or (workers or settings.web_concurrency) > 1:
        gc.enable()  # this process only watches: the app is built in the worker processes
        # The app runs in child processes (--reload too): each writes its metrics to files there,
        # and whichever answers /metrics (or METRICS_PORT, from here) sums them.
        directory = metrics_export.fresh_multiprocess_dir()
        atexit.register(metrics_export.remove_multiprocess_dir, directory)
        if settings.metrics_port:
            # This process runs no app: it reads every worker's files (jobs{} is on /metrics).
            metrics_export.serve_port(settings.metrics_port, host=bind_host)
    # With one worker, the app serves METRICS_PORT itself, jobs{} included (endpoint's lifespan).
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=bind_host,
        port=bind_port,
        reload=reload,
        workers=None if reload else (workers or settings.web_concurrency),
        log_config=None,
        access_log=False,  # the app writes one access line per request itself (my_app_web.telemetry)
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 (its default): any local client could
        # pick its own address. The app trusts forwarded headers itself, from TRUSTED_PROXIES only.
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        timeout_worker_healthcheck=settings.worker_healthcheck_timeout,
        # Compression costs ~37 KB of zlib state per socket that asks for it (every browser does).
        ws_per_message_deflate=settings.socket_compress,
        # Phoenix clients send their own heartbeat every 30 s and the socket closes after 60 s of
        # silence: uvicorn's pings would add a timer per socket and 1,000 pings/s at 20,000 sockets.
        ws_ping_interval=None,
        ws_max_size=WEBSOCKET_MAX_BYTES,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def register(app: typer.Typer) -> None:
    app.command()(server)
