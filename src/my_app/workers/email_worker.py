"""Moved: the email job is the accounts context's own, in `my_app.accounts.notifier` (phx.gen.auth's
UserNotifier). These names stay importable from here for code written against the old place.
"""

from __future__ import annotations

from my_app.accounts.notifier import LINK_PATHS, MAX_ATTEMPTS, blueprint, deliver_email, link

__all__ = ["LINK_PATHS", "MAX_ATTEMPTS", "blueprint", "deliver_email", "link"]
