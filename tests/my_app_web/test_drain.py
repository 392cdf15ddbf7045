"""drain.listen: the node drains on the stop signals and still stops as the server's own handler says."""

from __future__ import annotations

import asyncio
import signal
from types import FrameType

import pytest

from my_app_web import drain


async def test_a_stop_signal_drains_then_reaches_the_servers_own_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    heard: list[int] = []
    drained = asyncio.Event()
    monkeypatch.setattr(drain, "begin", drained.set)

    def servers_handler(signum: int, frame: FrameType | None) -> None:
        heard.append(signum)

    before = signal.signal(signal.SIGTERM, servers_handler)
    try:
        restore = drain.listen(asyncio.get_running_loop())
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(drained.wait(), timeout=5)
        assert heard == [signal.SIGTERM], "the server never heard it was told to stop"

        restore()
        assert signal.getsignal(signal.SIGTERM) is servers_handler
    finally:
        signal.signal(signal.SIGTERM, before)
