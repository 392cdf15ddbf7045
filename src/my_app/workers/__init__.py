"""procrastinate tasks, grouped in blueprints (Oban workers); `my_app.jobs` registers them.

Task names are `<namespace>:<function>`, e.g. `email:deliver_email`. The email blueprint belongs to
the accounts context (`my_app.accounts.notifier`, phx.gen.auth's UserNotifier); it is listed here
until the job queue receives its blueprints from `my_app.application`.
"""

from __future__ import annotations

from procrastinate import Blueprint

from my_app.accounts import notifier
from my_app.workers import maintenance

BLUEPRINTS: dict[str, Blueprint] = {
    "email": notifier.blueprint,
    "maintenance": maintenance.blueprint,
}
