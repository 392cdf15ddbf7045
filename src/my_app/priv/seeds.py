"""Demo data for dev (Phoenix's `priv/repo/seeds.exs`), loaded by `myapp db seed` and `make run`.

Every step goes through the contexts and is idempotent (get-or-create by a natural key), so
running it again changes nothing. Steps print what they made; demo passwords are dev-only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from my_app.config import Settings

SeedStep = Callable[[Settings], Awaitable[list[str]]]

# One step per context, in dependency order; each returns lines describing what it created.
STEPS: list[SeedStep] = []


async def run(settings: Settings) -> list[str]:
    """Run every seed step; refuses to run in prod (demo accounts must never exist there)."""
    if settings.env == "prod":
        raise PermissionError("seeds are demo data and never run in prod")
    report: list[str] = []
    for step in STEPS:
        report.extend(await step(settings))
    return report
