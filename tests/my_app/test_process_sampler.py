"""The process sampler: memory, open files and event-loop lag, for /metrics."""

from __future__ import annotations

import asyncio
import time

from my_app import metrics, process_sampler


def gauge(name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, f"{name} not sampled"
    return value


async def test_starting_samples_memory_and_open_files_at_once() -> None:
    sampler = process_sampler.ProcessSampler(interval=60)
    await sampler.start()
    try:
        assert gauge("process_resident_memory_bytes") > 10 * 1024 * 1024  # a Python process is larger
        assert gauge("process_open_fds") >= 3  # stdin, stdout, stderr at least
    finally:
        await sampler.stop()


async def test_a_loop_blocked_by_a_synchronous_step_shows_as_lag() -> None:
    sampler = process_sampler.ProcessSampler(interval=0.05)
    await sampler.start()
    try:
        await asyncio.sleep(0.01)
        time.sleep(0.3)  # noqa: ASYNC251 - blocking the loop is the point
        await asyncio.sleep(0.001)  # the late timer fires first, and is sampled
        assert gauge("event_loop_lag_seconds") >= 0.2
        await asyncio.sleep(0.2)  # the next samples are on time again
        assert gauge("event_loop_lag_seconds") < 0.2
    finally:
        await sampler.stop()
