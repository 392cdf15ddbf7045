"""`start_eagerly`: a coroutine runs at once in the caller, and only one that has to wait gets a task."""

from __future__ import annotations

import asyncio

import pytest

from my_app_web.channels.eager import start_eagerly

WITHIN = 5.0


async def test_start_eagerly_runs_a_coroutine_that_never_waits_without_a_task() -> None:
    done: list[str] = []

    async def quick() -> None:
        done.append("ran")

    assert start_eagerly(quick(), "quick") is None
    assert done == ["ran"]


async def test_start_eagerly_hands_a_waiting_coroutine_to_a_task_that_finishes_it() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def slow() -> None:
        seen.append("before")
        seen.append(await gate)
        await asyncio.sleep(0)  # a bare yield as well
        seen.append("after")

    task = start_eagerly(slow(), "slow")
    assert task is not None
    assert seen == ["before"]  # ran up to its first wait, within the call
    gate.set_result("resumed")
    await asyncio.wait_for(task, WITHIN)
    assert seen == ["before", "resumed", "after"]


async def test_start_eagerly_passes_failures_and_cancellation_to_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    failing: asyncio.Future[None] = loop.create_future()
    outcomes: list[str] = []

    async def waits_on(future: asyncio.Future[None]) -> None:
        try:
            await future
        except ValueError as error:
            outcomes.append(f"raised {error}")
        except asyncio.CancelledError:
            outcomes.append("cancelled")
            raise

    task = start_eagerly(waits_on(failing), "failing")
    assert task is not None
    failing.set_exception(ValueError("boom"))
    await asyncio.wait_for(task, WITHIN)
    cancelled = start_eagerly(waits_on(loop.create_future()), "cancelled")
    assert cancelled is not None
    await asyncio.sleep(0)  # one loop turn, not a wait for time: the task starts waiting on the future
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert outcomes == ["raised boom", "cancelled"]


async def test_start_eagerly_passes_on_a_cancellation_at_a_bare_yield() -> None:
    outcomes: list[str] = []

    async def yields() -> None:
        try:
            await asyncio.sleep(0)  # a bare yield, then a long wait
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            outcomes.append("cancelled")
            raise
        finally:
            outcomes.append("cleaned up")

    task = start_eagerly(yields(), "bare yield")
    assert task is not None
    task.cancel()  # before it ran again: at the bare yield
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outcomes == ["cancelled", "cleaned up"]


async def test_start_eagerly_passes_on_a_cancellation_that_comes_after_the_future_is_done() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    outcomes: list[str] = []

    async def waits() -> None:
        try:
            await future
            outcomes.append("went on")
        except asyncio.CancelledError:
            outcomes.append("cancelled")
            raise

    task = start_eagerly(waits(), "late cancel")
    assert task is not None
    await asyncio.sleep(0)  # one loop turn: the task waits on the future
    future.set_result(None)  # the task is due to resume...
    task.cancel()  # ...and is cancelled first: the coroutine must see it
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outcomes == ["cancelled"]
