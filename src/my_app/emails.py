"""The app's emails, each built from a text and an HTML template (the seed's `MyApp.Emails`).

Every function returns an `Email` and sends nothing: the caller (usually a job) passes it to
`mailer.deliver`. Links come in as URLs built by the caller, so this module never knows the web
layer's routes. Templates live in `priv/templates/email/`; `.html` ones are autoescaped, so a
user's name can never inject markup.

Every email speaks its recipient's language: a recipient with a `locale` ("de") gets it in that
locale, one without (None, or no such attribute) in the default; subject and body alike go through
the gettext catalogs (`my_app.gettext`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from my_app import gettext
from my_app.gettext import N_
from my_app.gettext import gettext as _
from my_app.mailer import Email

APP_NAME = "MyApp"
TEMPLATES_PATH = Path(__file__).parent / "priv" / "templates" / "email"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_PATH),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    # A misspelt variable fails the render instead of silently sending a blank.
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
gettext.install_jinja(_environment)


class Recipient(Protocol):
    """Whom an email greets and goes to: a user of the accounts context, or anything shaped alike."""

    @property
    def email(self) -> str: ...

    @property
    def name(self) -> str: ...


def recipient_locale(user: Recipient) -> str | None:
    """The language the recipient reads: their `locale` setting if they have one (a User does)."""
    locale = getattr(user, "locale", None)
    return locale if isinstance(locale, str) else None


def welcome_email(user: Recipient, *, url: str | None = None) -> Email:
    """The email sent once a user has registered; `url` adds a link back to the app.

    Examples:
        >>> welcome_email(user).subject
        'Welcome to MyApp'
        >>> "Open MyApp: https://example.com/" in welcome_email(user, url="https://example.com/").text_body
        True
    """
    return _email("welcome", user, subject=N_("Welcome to %(app_name)s"), url=url)


def password_reset_email(user: Recipient, url: str) -> Email:
    """The email with the link that lets a user choose a new password.

    The caller builds `url` (with its token), e.g. `f"{settings.base_url}/users/reset-password/{token}"`.

    Examples:
        >>> email = password_reset_email(user, "https://example.com/users/reset-password/abc")
        >>> email.subject
        'Reset your MyApp password'
        >>> "https://example.com/users/reset-password/abc" in email.text_body
        True
    """
    return _email("password_reset", user, subject=N_("Reset your %(app_name)s password"), url=url)


def reminder_email(user: Recipient, *, url: str | None = None) -> Email:
    """The nudge scheduled a while after registration; `url` adds a link back to the app.

    Examples:
        >>> reminder_email(user).to
        ('ada@example.com',)
    """
    return _email("reminder", user, subject=N_("Your %(app_name)s account is waiting for you"), url=url)


def confirmation_email(user: Recipient, url: str) -> Email:
    """The email whose link confirms the user's address (valid 7 days).

    Examples:
        >>> confirmation_email(user, "https://example.com/users/confirm/abc").subject
        'Confirm your MyApp account'
    """
    return _email("confirmation", user, subject=N_("Confirm your %(app_name)s account"), url=url)


def update_email_email(user: Recipient, new_email: str, url: str) -> Email:
    """Sent to the new address: its link confirms the change of email (valid 7 days).

    Examples:
        >>> update_email_email(user, "new@example.com", "https://example.com/x").to
        ('new@example.com',)
    """
    email = _email(
        "update_email",
        user,
        subject=N_("Confirm your new %(app_name)s email"),
        url=url,
        new_email=new_email,
    )
    return replace(email, to=(new_email,))


def magic_link_email(user: Recipient, url: str) -> Email:
    """The single-use log-in link (valid 15 minutes).

    Examples:
        >>> magic_link_email(user, "https://example.com/users/log-in/abc").subject
        'Your MyApp log-in link'
    """
    return _email("magic_link", user, subject=N_("Your %(app_name)s log-in link"), url=url)


def _email(template: str, user: Recipient, *, subject: str, **assigns: Any) -> Email:
    # `subject` is the English message (marked with N_): translated here, in the recipient's locale.
    with gettext.use_locale(recipient_locale(user)):
        translated_subject = _(subject, app_name=APP_NAME)
        assigns = {"app_name": APP_NAME, "subject": translated_subject, "user": user, **assigns}
        return Email(
            to=(user.email,),
            subject=translated_subject,
            text_body=_render(f"{template}.txt", assigns),
            html_body=_render(f"{template}.html", assigns),
        )


def _render(name: str, assigns: dict[str, Any]) -> str:
    # Blank lines left by `{% if %}` blocks and template indentation are trimmed away.
    return _environment.get_template(name).render(assigns).strip() + "\n"
