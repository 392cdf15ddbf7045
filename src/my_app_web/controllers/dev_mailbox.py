"""The dev-only routes: the mailbox (`mailbox_preview`, Plug.Swoosh.MailboxPreview) at /dev/mailbox
and the ops dashboard without log-in at /dev/dashboard (`live.admin.dashboard_live.dev_router`).

Phoenix's `if Application.compile_env(:my_app, :dev_routes)` scope: mounted in dev only.
"""

from __future__ import annotations

from fastapi import FastAPI

from my_app.config import Settings
from my_app_web.live.admin import dashboard_live  # the dashboard's page, served at /admin/dashboard too


def mount_dev_routes(app: FastAPI, settings: Settings) -> None:
    """Add the dev-only routes (the mailbox, the dashboard) to the app when running in dev; a no-op elsewhere."""
    if settings.env == "dev":
        # Imported here: elsewhere the mailbox's pages are never served, so a server does not
        # declare (analyse) their routes at start-up.
        from my_app_web.controllers import mailbox_preview

        app.include_router(mailbox_preview.router)
        app.include_router(dashboard_live.dev_router)
