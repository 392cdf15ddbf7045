"""The app's emails: who they go to, what they say, and that their links and markup are safe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest

from my_app import emails, mailer
from my_app.config import Settings
from my_app.mailer import Email


@dataclass(frozen=True)
class User:
    """Stands in for the accounts context's user: the emails only read `email` and `name`."""

    email: str
    name: str


ADA = User(email="ada@example.com", name="Ada Lovelace")
RESET_URL = "https://myapp.example/users/reset-password/SFMyNTY?next=/settings&lang=en"


class LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)
        if tag == "script":
            self.scripts += 1


def parse_html(email: Email) -> LinkCollector:
    assert email.html_body is not None
    parser = LinkCollector()
    parser.feed(email.html_body)
    return parser


@pytest.fixture(autouse=True)
def _empty_test_mailbox() -> Iterator[None]:
    mailer.test_adapter.clear()
    yield
    mailer.test_adapter.clear()


ALL_EMAILS: list[Callable[[User], Email]] = [
    emails.welcome_email,
    lambda user: emails.password_reset_email(user, RESET_URL),
    emails.reminder_email,
]


@pytest.mark.parametrize("build", ALL_EMAILS, ids=["welcome", "password_reset", "reminder"])
def test_every_email_goes_to_the_user_with_both_parts_in_the_layout(build: Callable[[User], Email]) -> None:
    email = build(ADA)

    assert email.to == ("ada@example.com",)
    assert email.from_ is None  # the mailer fills in MAIL_FROM
    assert email.html_body is not None
    assert "Ada Lovelace" in email.text_body
    assert "Ada Lovelace" in email.html_body
    # The shared layout wraps both parts.
    assert "You received this email because you have an account at MyApp." in email.text_body
    assert "You received this email because you have an account at MyApp." in email.html_body
    assert email.html_body.lstrip().startswith("<!DOCTYPE html>")


def test_welcome_email_greets_the_user() -> None:
    email = emails.welcome_email(ADA)

    assert email.subject == "Welcome to MyApp"
    assert email.text_body.startswith("Welcome, Ada Lovelace!")
    assert "ada@example.com" in email.text_body
    assert parse_html(email).hrefs == []


def test_welcome_email_links_back_to_the_app_when_given_a_url() -> None:
    email = emails.welcome_email(ADA, url="https://myapp.example/")

    assert "Open MyApp: https://myapp.example/" in email.text_body
    assert parse_html(email).hrefs == ["https://myapp.example/"]


def test_password_reset_email_carries_the_callers_link_in_both_parts() -> None:
    email = emails.password_reset_email(ADA, RESET_URL)

    assert email.subject == "Reset your MyApp password"
    assert RESET_URL in email.text_body.splitlines()
    # Escaped in the markup (& → &amp;), the browser still opens exactly this URL.
    assert parse_html(email).hrefs == [RESET_URL]
    assert "If you did not ask for this" in email.text_body


def test_reminder_email_nudges_the_user() -> None:
    email = emails.reminder_email(ADA, url="https://myapp.example/")

    assert email.subject == "Your MyApp account is waiting for you"
    assert email.text_body.startswith("Still there, Ada Lovelace?")
    assert parse_html(email).hrefs == ["https://myapp.example/"]


def test_html_part_escapes_what_the_user_typed_and_text_part_keeps_it() -> None:
    mallory = User(email="mallory@example.com", name='<script>alert("hi")</script><a href="https://evil.example">x</a>')

    email = emails.welcome_email(mallory)

    assert email.html_body is not None
    assert parse_html(email).scripts == 0
    assert parse_html(email).hrefs == []
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;" in email.html_body
    assert '<script>alert("hi")</script>' in email.text_body


def test_text_part_has_no_template_leftovers() -> None:
    email = emails.password_reset_email(ADA, RESET_URL)

    assert "{{" not in email.text_body
    assert "{%" not in email.text_body
    assert "\n\n\n" not in email.text_body
    assert email.text_body.endswith("\n")


async def test_an_email_goes_out_through_the_mailer_from_the_apps_sender(settings: Settings) -> None:
    await mailer.deliver(emails.password_reset_email(ADA, RESET_URL), settings=settings)

    [sent] = mailer.test_adapter.sent()
    assert sent.to == ("ada@example.com",)
    assert sent.from_ == settings.mail_from
    assert sent.subject == "Reset your MyApp password"
    assert RESET_URL in sent.text_body
