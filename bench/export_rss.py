"""The CSV export's memory: the server's peak RSS while it streams 200,000 products ÷ its idle RSS.

    .venv/bin/python -m bench.export_rss [--products 200000] [--keep-db]

Seeds a scratch database (`my_app_bench_export`, on the server the dev settings point at, like the
other benches) in one INSERT … SELECT generate_series, starts the app as `myapp server` runs it (one
worker), reads its idle RSS after a warm-up, then downloads `GET /api/products/export.csv` as an
admin, streaming it to nowhere and counting rows, while a thread samples the server's RSS every
5 ms. Target (issue 11): peak ≤ 1.5 × idle. Memory stays flat when the export reads through a
server-side cursor in batches and sends each batch before reading the next.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from bench.catalog_data import admin_token, seed_products
from bench.support import describe_database, free_port, machine, scratch_database, server_process
from my_app import database
from my_app.config import Settings

BENCH_DATABASE = "my_app_bench_export"
TARGET = 1.5
console = Console()


def tree_rss(process: psutil.Process) -> int:
    """RSS of the server and its children (one worker runs in-process; counted either way)."""
    members = [process, *process.children(recursive=True)]
    total = 0
    for member in members:
        try:
            total += int(member.memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    return total


def high_water_mark(pid: int) -> int:
    """VmHWM of /proc/<pid>/status in bytes: the process's peak RSS since it started."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class Sampler(threading.Thread):
    """The highest RSS seen, polled every `interval` seconds until stopped."""

    def __init__(self, process: psutil.Process, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.process, self.interval = process, interval
        self.peak, self.samples = 0, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, tree_rss(self.process))
            self.samples += 1
            time.sleep(self.interval)


def download(url: str, token: str) -> tuple[int, int, float, float]:
    """Rows (header excluded), bytes, seconds to the first byte and in all."""
    rows = size = 0
    started = time.perf_counter()
    first = 0.0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", url, headers=headers, timeout=300) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(65536):
            if not first:
                first = time.perf_counter() - started
            rows += chunk.count(b"\n")  # seeded names and descriptions have no line breaks
            size += len(chunk)
    return rows - 1, size, first, time.perf_counter() - started


def mb(value: int) -> str:
    return f"{value / 1024 / 1024:,.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=200_000, help="products to seed (default 200,000)")
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database afterwards")
    options = parser.parse_args(argv)

    base = Settings(env="dev")
    db = scratch_database(base, BENCH_DATABASE)
    started = time.perf_counter()
    seed_products(db.url, options.products)
    seeded = time.perf_counter() - started
    token = asyncio.run(admin_token(Settings(env="dev", database_url=db.url, jobs_in_server=False)))
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    with server_process(db, port) as server:
        process = psutil.Process(server.pid)
        # Warm-up: the routes, the auth path and the pool are used once before idle is read.
        for _ in range(3):
            httpx.get(f"{root}/api/products?limit=20", headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        time.sleep(1)
        idle = tree_rss(process)
        hwm_before = high_water_mark(server.pid)
        sampler = Sampler(process)
        sampler.start()
        rows, size, first_byte, seconds = download(f"{root}/api/products/export.csv", token)
        sampler.stopped.set()
        sampler.join()
        after = tree_rss(process)
        hwm_after = high_water_mark(server.pid)
    if not options.keep_db:
        database.drop(db)

    peak = max(sampler.peak, idle)
    ratio = peak / idle
    setup = Table("set-up", "", show_header=False)
    setup.add_row("machine", machine())
    setup.add_row("database", describe_database(db, base))
    setup.add_row("server", "myapp server: uvicorn, 1 worker process, MYAPP_ENV=dev, LOG_LEVEL=WARNING")
    setup.add_row("data", f"{options.products:,} products in 20 categories, seeded in {seeded:.1f} s")
    setup.add_row("sampling", f"RSS of the server process tree every 5 ms (psutil): {sampler.samples:,} samples")
    console.print(setup)
    results = Table("", "value")
    results.add_row(
        "rows downloaded", f"{rows:,}" + ("" if rows == options.products else " [red](expected more)[/red]")
    )
    results.add_row("bytes", mb(size))
    results.add_row("first byte", f"{first_byte * 1000:,.0f} ms")
    results.add_row(
        "download", f"{seconds:.2f} s, {rows / seconds:,.0f} rows/s, {size / seconds / 1024 / 1024:.1f} MB/s"
    )
    results.add_row("RSS idle (after warm-up)", mb(idle))
    results.add_row("RSS peak while streaming (sampled)", mb(peak))
    results.add_row("RSS after the download", mb(after))
    results.add_row("VmHWM before / after the download", f"{mb(hwm_before)} / {mb(hwm_after)}")
    console.print(results)
    verdict = "[green]met[/green]" if ratio <= TARGET else "[red]missed[/red]"
    console.print(f"The figure: peak ÷ idle RSS = {ratio:.2f} (target ≤ {TARGET}) {verdict}")
    return 0 if rows == options.products and ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
