"""Every email in German for a recipient whose setting is "de": subject, text and HTML, nothing left in English."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from my_app import emails
from my_app.gettext import get_locale, use_locale
from my_app.mailer import Email


@dataclass(frozen=True)
class User:
    email: str
    name: str
    locale: str | None = None


URL = "https://myapp.example/users/x/abc"
GERMAN = User(email="ada@example.com", name="Ada <Lovelace>", locale="de")

EMAILS: dict[str, Callable[[User], Email]] = {
    "welcome": lambda user: emails.welcome_email(user, url=URL),
    "password_reset": lambda user: emails.password_reset_email(user, URL),
    "reminder": lambda user: emails.reminder_email(user, url=URL),
    "confirmation": lambda user: emails.confirmation_email(user, URL),
    "update_email": lambda user: emails.update_email_email(user, "neu@example.com", URL),
    "magic_link": lambda user: emails.magic_link_email(user, URL),
}
SUBJECTS = {
    "welcome": "Willkommen bei MyApp",
    "password_reset": "Setze dein MyApp-Passwort zurück",
    "reminder": "Dein MyApp-Konto wartet auf dich",
    "confirmation": "Bestätige dein MyApp-Konto",
    "update_email": "Bestätige deine neue E-Mail-Adresse bei MyApp",
    "magic_link": "Dein Anmeldelink für MyApp",
}
# Words of each English email that a German one must not contain.
ENGLISH = ["Hi ", "Welcome", "Please", "If you", "Or paste", "You received", "Log in", "account", "this email"]


@pytest.mark.parametrize("kind", list(EMAILS))
def test_every_email_is_in_the_recipients_language(kind: str) -> None:
    email = EMAILS[kind](GERMAN)

    assert email.subject == SUBJECTS[kind]
    assert email.html_body is not None
    assert '<html lang="de">' in email.html_body
    assert "Du erhältst diese E-Mail, weil du ein Konto bei MyApp hast." in email.text_body
    assert "Du erhältst diese E-Mail, weil du ein Konto bei MyApp hast." in email.html_body
    for body in (email.text_body, email.html_body):
        assert URL in body
        assert not [word for word in ENGLISH if word in body], body
    # Values stay escaped in HTML inside translated sentences, and as typed in text.
    assert "Ada &lt;Lovelace&gt;" in email.html_body
    assert "<Lovelace>" not in email.html_body


def test_the_recipients_language_wins_over_the_language_of_the_work_in_hand() -> None:
    with use_locale("de"):
        english = emails.welcome_email(User(email="bob@example.com", name="Bob"))  # no setting: the default
        assert get_locale() == "de"  # untouched by the email
    german = emails.welcome_email(GERMAN)

    assert english.subject == "Welcome to MyApp"
    assert german.subject == "Willkommen bei MyApp"
    assert "Dein MyApp-Konto für <strong>ada@example.com</strong> ist bereit." in (german.html_body or "")


def test_a_recipient_with_a_locale_the_app_does_not_speak_gets_the_default() -> None:
    email = emails.magic_link_email(User(email="x@example.com", name="X", locale="fr"), URL)

    assert email.subject == "Your MyApp log-in link"
