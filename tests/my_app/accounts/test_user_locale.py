"""Accounts: a user's language setting, and the emails that follow it."""

from __future__ import annotations

import pytest

from my_app import accounts
from my_app.accounts.scope import Scope
from my_app.errors import ForbiddenError, ValidationError
from tests.support.fixtures.accounts import SYSTEM, extract_user_token, url_for, user_fixture

pytestmark = pytest.mark.usefixtures("db")


async def test_a_new_user_has_no_setting_and_can_choose_a_language_then_drop_it() -> None:
    user = await user_fixture()
    assert user.locale is None

    german = await accounts.update_user_locale(Scope.for_user(user), user, "de")
    assert german.locale == "de"
    assert (await accounts.get_user(SYSTEM, user.id)).locale == "de"  # type: ignore[union-attr]

    back = await accounts.update_user_locale(Scope.for_user(user), german, None)
    assert back.locale is None


async def test_only_a_language_the_app_speaks() -> None:
    user = await user_fixture()

    with pytest.raises(ValidationError) as raised:
        await accounts.update_user_locale(Scope.for_user(user), user, "fr")

    assert raised.value.errors == {"locale": ["is invalid"]}
    assert (await accounts.get_user(SYSTEM, user.id)).locale is None  # type: ignore[union-attr]


async def test_only_the_user_or_an_admin_sets_it() -> None:
    user, other = await user_fixture(), await user_fixture()
    admin = await user_fixture(role="admin")

    with pytest.raises(ForbiddenError):
        await accounts.update_user_locale(Scope.for_user(other), user, "de")
    assert (await accounts.update_user_locale(Scope.for_user(admin), user, "de")).locale == "de"


async def test_emails_to_a_german_speaking_user_are_in_german() -> None:
    user = await user_fixture(name="Ada")
    await accounts.update_user_locale(Scope.for_user(user), user, "de")
    stored = await accounts.get_user(SYSTEM, user.id)  # as the email job loads it
    assert stored is not None

    email = await accounts.deliver_login_instructions(stored, url_for("log-in"))

    assert email.subject == "Dein Anmeldelink für MyApp"
    assert email.text_body.startswith("Hallo Ada,\n\nMelde dich mit diesem Link an.")
    assert "Du erhältst diese E-Mail, weil du ein Konto bei MyApp hast." in email.text_body
    assert email.html_body is not None
    assert '<html lang="de">' in email.html_body
    assert ">Anmelden</a>" in email.html_body
    assert extract_user_token(email)  # the link works as in English


async def test_emails_to_a_user_without_a_setting_are_in_english() -> None:
    user = await user_fixture(name="Ada")

    email = await accounts.deliver_login_instructions(user, url_for("log-in"))

    assert email.subject == "Your MyApp log-in link"
    assert email.html_body is not None
    assert '<html lang="en">' in email.html_body
