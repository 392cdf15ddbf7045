"""`start_eagerly`: run a coroutine at once, in the caller, and give it a task only if it has to wait.

The socket writes every frame this way (`Connection._enqueue`): a broadcast to N sockets is N
plain calls rather than N task wake-ups.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Coroutine
from typing import Any


def start_eagerly(
    coro: Coroutine[Any, Any, None], name: str, *, context: contextvars.Context | None = None
) -> asyncio.Task[None] | None:
    """Run `coro` at once, up to its first real wait; only a coroutine that has to wait gets a task.

    Like Python 3.12's eager tasks, for 3.11, with a difference that matters: the eager part runs
    in the caller's task and context (`current_task()` is the caller's, so `asyncio.timeout()`
    there would cancel the caller). Keep it to coroutines that only write, as `Connection._write`.
    Writing a frame almost never waits (uvicorn hands it to the transport there and then), so a
    broadcast to N sockets is N plain calls rather than N task wake-ups, and nothing outlives the
    call for the garbage collector to scan later. Exceptions raised before the first wait
    propagate to the caller; the rest runs in a task (in `context`, if given).
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    task = asyncio.get_running_loop().create_task(_resume(coro, waiting_on), name=name, context=context)
    task.add_done_callback(lambda done: _cancel_left_behind(coro) if done.cancelled() else None)
    return task


def _cancel_left_behind(coro: Coroutine[Any, Any, None]) -> None:
    """A task cancelled before its first step never ran `_resume`: cancel `coro` itself (its
    `except`/`finally` blocks run), and close it if it would rather wait again."""
    if inspect.getcoroutinestate(coro) != inspect.CORO_SUSPENDED:
        return
    try:
        coro.throw(asyncio.CancelledError())
    except BaseException:  # finished, as it should: cancelled (or it returned)
        return
    coro.close()


async def _resume(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Go on with `coro` in a task, from where `start_eagerly` left it: waiting on a future (or a bare yield)."""
    while True:
        if waiting_on is None:
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError as cancelled:  # this task was cancelled: pass it on
                try:
                    waiting_on = coro.throw(cancelled)
                except StopIteration:
                    return
                continue
        else:
            # What a Task does with a future its coroutine yields: clear the flag the future set
            # when it was yielded, then wait for it. Its outcome is the coroutine's to see (resumed,
            # it reads it from the future); cancelling this task while it waits cancels the future,
            # so the coroutine sees that too.
            waiting_on._asyncio_future_blocking = False
            try:
                await waiting_on
            except asyncio.CancelledError as cancelled:
                if not waiting_on.cancelled():
                    # This task was cancelled after the future was done: pass that on.
                    try:
                        waiting_on = coro.throw(cancelled)
                    except StopIteration:
                        return
                    continue
            except BaseException:  # noqa: S110 - the future's failure: the coroutine reads it from the future
                pass
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return
