"""procrastinate tasks, grouped in blueprints (Oban workers); `my_app.jobs` registers them.

Task names are `<namespace>:<function>`, e.g. `email:deliver_email`.
"""

from __future__ import annotations

from procrastinate import Blueprint

from my_app.workers import email_worker, maintenance

BLUEPRINTS: dict[str, Blueprint] = {
    "email": email_worker.blueprint,
    "maintenance": maintenance.blueprint,
}
