"""A real `myapp server`'s log never shows the signed token a socket URL carries (issue 9, fault 3),
and has exactly one access line per request (the app's; uvicorn's own is off)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.support.live_server import ServerProcess
from tests.support.processes import free_port, wait_until

pytestmark = pytest.mark.integration

SECRET = "SFMyNTY.not-a-real-token-but-shaped-like-one"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(port=free_port(), log=tmp_path / "server.log")
    try:
        yield process.start()
    finally:
        process.stop()


async def test_socket_and_http_access_lines_show_the_path_without_the_token(server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"{server.ws_url}/socket/websocket?token={SECRET}&vsn=2.0.0"):
            pass
    assert refused.value.response.status_code == 403
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get(f"/health?token={SECRET}")).status_code == 200

    def both_logged() -> bool:
        output = server.output()
        return "WebSocket /socket/websocket?token=[FILTERED]&vsn=2.0.0" in output and (
            "path='/health?token=[FILTERED]'" in output
        )

    wait_until(both_logged, timeout=10, message=f"the access lines, in:\n{server.output()}")
    assert SECRET not in server.output()
    assert server.output().count("/health?token=") == 1  # one line for the request, not two
