"""Samples the process every few seconds: resident memory, open files, event-loop lag (the seed's
`:telemetry_poller` with its VM measurements).

A child of the application (`application.ProcessSamplerChild`): one task, restarted if a sample
ever fails, stopped with the app. The lag is how late a `sleep(interval)` woke up: a loop busy
with a long synchronous step (a big render, a blocking call) shows up here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from my_app import metrics

logger = logging.getLogger(__name__)

SAMPLE_INTERVAL = 5.0  # seconds between samples
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_memory_bytes() -> int | None:
    """This process's resident set size, from /proc/self/statm (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


def open_fds() -> int | None:
    """Open file descriptors of this process (sockets included), from /proc/self/fd; None elsewhere."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def sample(lag: float) -> None:
    """Set the process gauges (`lag`: how late the last timer fired, in seconds)."""
    rss = resident_memory_bytes()
    if rss is not None:
        metrics.PROCESS_RESIDENT_MEMORY.set(rss)
    fds = open_fds()
    if fds is not None:
        metrics.PROCESS_OPEN_FDS.set(fds)
    metrics.EVENT_LOOP_LAG.set(lag)


class ProcessSampler:
    """The sampling task: `start()` it on the app's loop, `stop()` it when the app stops."""

    name = "process sampler"

    def __init__(self, interval: float = SAMPLE_INTERVAL) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sample(0.0)  # a first sample at once: /metrics has the gauges from the first scrape
        self._task = asyncio.create_task(self._run(), name="process sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            expected = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            try:
                sample(max(0.0, time.perf_counter() - expected))
            except Exception:
                # Supervised: a failed sample is logged, and the next one comes as usual.
                logger.exception("sampling the process failed")
