"""The real app plus `/slow`, a request that stays in flight until the test lets it finish.

Run by tests/my_app_web/test_graceful_shutdown.py as
`python -m uvicorn --factory tests.support.slow_app:create`, with `SLOW_APP_DIR` naming a folder:
the request touches `started` there when it begins, and ends once `release` appears.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from fastapi import FastAPI

from my_app_web.endpoint import create_app

_GIVE_UP_SECONDS = 60


def create() -> FastAPI:
    app = create_app()
    control = Path(os.environ["SLOW_APP_DIR"])

    async def slow() -> dict[str, str]:
        (control / "started").touch()
        for _ in range(_GIVE_UP_SECONDS * 20):
            if (control / "release").exists():
                return {"status": "done"}
            await asyncio.sleep(0.05)
        return {"status": "never released"}

    app.add_api_route("/slow", slow, methods=["GET"])
    return app
