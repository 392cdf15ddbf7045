"""The links our emails carry, built from the router's named routes (Phoenix's `url(~p"...")`).

The core builds emails in a job, where no request exists; the web layer, which owns the paths,
gives it this function. Renaming or moving a page's route moves its emailed links with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from my_app.config import Settings
from my_app_web.router import router

# Each kind of emailed link the core asks for, and the page (route name) that answers it.
EMAIL_LINK_ROUTES = {
    "confirmation": "user_confirm",
    "reset_password": "user_reset_password",
    "update_email": "user_confirm_email",
    "magic_link": "user_magic_link",
    "home": "home",
}


def email_links(settings: Settings) -> Callable[[str, str | None], str]:
    """`email_link` for these settings: what the application hands the accounts notifier."""
    return functools.partial(email_link, settings)


def email_link(settings: Settings, kind: str, token: str | None = None) -> str:
    """The absolute URL (under APP_HOST, never a request's Host) of the page for `kind`.

    Examples:
        email_link(settings, "confirmation", token)   # "https://example.com/users/confirm/<token>"
        email_link(settings, "home")                  # "https://example.com/"
    """
    params = {"token": token} if token is not None else {}
    return settings.base_url + str(router.url_path_for(EMAIL_LINK_ROUTES[kind], **params))
