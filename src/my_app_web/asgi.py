"""The factory `myapp server` hands uvicorn: the app, built without collecting garbage.

Building the app allocates what lives as long as the process: modules, routes, pydantic schemas,
SQLAlchemy's mappers. None of it is garbage, yet the collector ran full passes over the growing
heap while it was made: ~0.3 s of a 2 s start (bench/README.md). So the collector is off from this
module's import (before the app's modules load) until the app is built; then what was built is
frozen (`gc.freeze`: full collections no longer scan it) and the collector runs again. uvicorn
imports this module in each worker process, so every worker starts so.

Only `myapp server` imports it: an import without the call would leave the collector off.
"""

from __future__ import annotations

import gc

gc.disable()

from my_app_web.endpoint import Endpoint  # noqa: E402 - after the collector is off
from my_app_web.endpoint import create_app as build  # noqa: E402


def create_app() -> Endpoint:
    """`my_app_web.endpoint.create_app()`, then the collector back on with the start-up heap frozen."""
    try:
        return build()
    finally:
        gc.freeze()
        gc.enable()
