"""What the CLI takes from the web layer, by import string: the core never imports `my_app_web`,
but the commands that assemble a whole app (server, worker, console) are its composition root."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from my_app.accounts.notifier import EmailLinks
    from my_app.config import Settings

EMAIL_LINKS = "my_app_web.links:email_links"


def email_links(settings: Settings) -> EmailLinks:
    """The web layer's builder of emailed links (its named routes, on APP_HOST)."""
    module, _, name = EMAIL_LINKS.partition(":")
    return cast("EmailLinks", getattr(importlib.import_module(module), name)(settings))
