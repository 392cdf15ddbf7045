"""The app server of `bench.channels_scale`: `myapp server`, with the open-files limit raised.

    .venv/bin/python -m bench.channels_server --port 4101 [--workers 2] [--plain-channel] [--tracemalloc]

This is `my_app.cli.server.server()` (what `myapp server [--workers N]` runs: uvicorn, the app
factory, the environment's settings), with bench-only additions:

- the open-files soft limit raised to the hard limit before serving;
- `/_bench/*` routes on the app, for the controller: task counts, the garbage collector's pauses
  (timed by a `gc.callbacks` hook), and in debug runs a tracemalloc comparison or a cProfile of a
  chosen window (the controller calls them between phases, never while measuring); each answer
  names the worker's pid, so the controller can ask every worker;
- with `--plain-channel`, UserSocket also routes `bench:*` to `PlainChannel`: RoomChannel's
  `new_msg` without Presence, to tell the transport's cost from Presence's. `room:*` is unchanged.

Experiment, off unless asked for: `/_bench/freeze` (`gc.freeze()`, called by the controller).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import time
import tracemalloc
from collections import Counter
from typing import Any

from fastapi import FastAPI

from bench.channels_client import raise_open_files_limit
from my_app.cli import server as server_command
from my_app_web.channels.channel import Channel, ChannelSocket, Reply
from my_app_web.channels.room_channel import MAX_BODY_LENGTH
from my_app_web.channels.user_socket import UserSocket
from my_app_web.endpoint import create_app as create_app_unchanged

_state: dict[str, Any] = {}
# The cyclic garbage collector's work, per generation: collections, seconds, longest pause.
_gc: dict[str, Any] = {"collections": [0, 0, 0], "seconds": [0.0, 0.0, 0.0], "longest": [0.0, 0.0, 0.0]}
_gc_started = [0.0]


def _gc_callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
        return
    generation, pause = info["generation"], time.perf_counter() - _gc_started[0]
    _gc["collections"][generation] += 1
    _gc["seconds"][generation] += pause
    _gc["longest"][generation] = max(_gc["longest"][generation], pause)


class PlainChannel(Channel):
    """Any signed-in user may join `bench:<anything>`; `new_msg` is broadcast as RoomChannel does it."""

    async def join(self, topic: str, payload: dict[str, Any], socket: ChannelSocket) -> dict[str, Any] | None:
        return {}

    async def handle_in(self, event: str, payload: dict[str, Any], socket: ChannelSocket) -> Reply | None:
        if event != "new_msg":
            return Reply.error({"reason": f"unknown event {event!r}"})
        body = payload.get("body")
        if not isinstance(body, str) or not body.strip() or len(body) > MAX_BODY_LENGTH:
            return Reply.error({"reason": "bad body"})
        user = socket.assigns["user"]
        await socket.broadcast("new_msg", {"body": body, "user": {"id": str(user.id), "name": user.name}})
        return Reply.ok()


def create_app() -> FastAPI:
    """The app `myapp server` serves, plus the `/_bench` routes."""
    _configure_process()
    app = create_app_unchanged()
    _add_bench_routes(app)
    return app


def _configure_process() -> None:
    """Apply the bench switches in this process: uvicorn's workers are new processes, so the
    switches travel in the environment and each worker applies them when it builds its app."""
    if _state.get("configured"):
        return
    _state["configured"] = True
    raise_open_files_limit()
    gc.callbacks.append(_gc_callback)
    if os.environ.get("BENCH_PLAIN_CHANNEL"):
        routes: tuple[tuple[str, type[Channel]], ...] = (*UserSocket.channels, ("bench:*", PlainChannel))
        UserSocket.channels = routes  # type: ignore[assignment]  # the class declares room:* only
    if os.environ.get("BENCH_TRACEMALLOC"):
        tracemalloc.start(1)


def _add_bench_routes(app: FastAPI) -> None:
    @app.get("/_bench/stats", include_in_schema=False)
    async def stats(types: bool = False, match: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {"pid": os.getpid(), "tasks": len(asyncio.all_tasks())}
        names = Counter(_task_kind(task) for task in asyncio.all_tasks())
        out["task_kinds"] = dict(names.most_common(12))
        if types:
            counts = Counter(type(o).__qualname__ for o in gc.get_objects())
            out["objects"] = dict(counts.most_common(30))
        if tracemalloc.is_tracing() and "snapshot" in _state:
            snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            for group, limit in (("lineno", 30), ("filename", 20)):
                top = snapshot.compare_to(_state["snapshot"], group)[:limit]
                out[f"tracemalloc_{group}"] = [
                    [str(stat.traceback[0]), stat.size_diff, stat.count_diff] for stat in top
                ]
            if match:
                lines = snapshot.compare_to(_state["snapshot"], "lineno")
                out["tracemalloc_match"] = [
                    [str(stat.traceback[0]), stat.size_diff, stat.count_diff]
                    for stat in lines
                    if match in str(stat.traceback[0])
                ][:40]
            out["tracemalloc_total"] = sum(
                stat.size_diff for stat in snapshot.compare_to(_state["snapshot"], "filename")
            )
        return out

    @app.get("/_bench/gc", include_in_schema=False)
    async def gc_stats() -> dict[str, Any]:
        return {**_gc, "thresholds": list(gc.get_threshold()), "pid": os.getpid()}

    @app.post("/_bench/freeze", include_in_schema=False)
    async def freeze() -> dict[str, Any]:
        gc.collect()
        gc.freeze()  # what the app could do once started: its startup objects are never scanned again
        return {"frozen": gc.get_freeze_count(), "pid": os.getpid()}

    @app.post("/_bench/mark", include_in_schema=False)
    async def mark() -> dict[str, Any]:
        if tracemalloc.is_tracing():
            _state["snapshot"] = tracemalloc.take_snapshot()
        return {"tracing": tracemalloc.is_tracing()}

    @app.post("/_bench/profile/start", include_in_schema=False)
    async def profile_start() -> dict[str, Any]:
        profiler = cProfile.Profile()
        _state["profiler"] = profiler
        profiler.enable()
        return {}

    @app.post("/_bench/profile/stop", include_in_schema=False)
    async def profile_stop(limit: int = 40) -> dict[str, Any]:
        profiler: cProfile.Profile = _state.pop("profiler")
        profiler.disable()
        out: dict[str, str] = {}
        for key in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(key).print_stats(limit)
            out[key] = text.getvalue()
        return out


def _task_kind(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", type(coro).__name__)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.channels_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plain-channel", action="store_true", help="also route bench:* to PlainChannel")
    parser.add_argument("--tracemalloc", action="store_true", help="trace allocations (debug runs only: slow)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (myapp server --workers)")
    args = parser.parse_args()
    raise_open_files_limit()  # inherited by the workers
    os.environ["BENCH_PLAIN_CHANNEL"] = "1" if args.plain_channel else ""
    os.environ["BENCH_TRACEMALLOC"] = "1" if args.tracemalloc else ""
    # `myapp server` imports the factory by name: point it at this module's (same app + /_bench).
    server_command.APP_FACTORY = "bench.channels_server:create_app"
    server_command.server(host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    main()
