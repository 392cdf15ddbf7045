"""Draining a node: when the server is told to stop, end what would keep it from stopping.

On SIGTERM (a deploy, Kubernetes) or Ctrl-C, uvicorn stops accepting connections, closes idle
ones, closes WebSockets with 1012 (clients come back, to another node) and then waits up to
SHUTDOWN_TIMEOUT for the open responses to finish before the app's lifespan hears of it. A live
page's event stream never finishes by itself, so without this the node would hang on to its
browsers for the whole timeout and then cut them off. `listen()` hears the same signals beside
uvicorn's own handler, and ends every live stream at once: each browser reconnects after the
stream's `retry` (one second), through the load balancer, to a node that stays. In-flight
requests and running jobs are untouched: they finish as before.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from my_app_web.live import stream

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def listen(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Drain on SIGTERM/SIGINT, then pass the signal on to the handler installed before (uvicorn's).

    Returns the function that puts the previous handlers back. Signals can only be handled in the
    main thread: elsewhere (an app started in a test's thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[signal.Signals, _Handler] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # A signal handler runs between two bytecodes of whatever the loop was doing: hand the
        # drain to the loop rather than touch its streams from here.
        loop.call_soon_threadsafe(begin)
        handler = previous.get(signal.Signals(signum))
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:  # nothing was installed: behave as if we were not here
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for signum in STOP_SIGNALS:
        previous[signum] = signal.signal(signum, on_signal)

    def restore() -> None:
        for signum, handler in previous.items():
            if signal.getsignal(signum) is on_signal:
                signal.signal(signum, handler)

    return restore


def begin() -> None:
    """End every live stream of this process, now and from now on (the node is going away)."""
    ended = stream.end_all()
    logger.info("draining: ended %d live page stream(s); their browsers reconnect to another node", ended)
