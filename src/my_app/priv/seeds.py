"""Demo data for dev (Phoenix's `priv/repo/seeds.exs`), loaded by `myapp db seed` and `make run`.

Every step goes through the contexts and is idempotent (get-or-create by a natural key), so
running it again changes nothing. Steps print what they made; demo passwords are dev-only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from my_app import accounts, chat
from my_app.accounts.scope import Scope
from my_app.config import Settings

SeedStep = Callable[[Settings], Awaitable[list[str]]]
OPERATOR = Scope.for_system()  # seeds act as the system, like the CLI that runs them

DEMO_PASSWORD = "demo password 1234"  # noqa: S105 - dev-only demo accounts, printed on purpose
DEMO_ADMIN = ("admin@example.com", "Ada Admin")
DEMO_USERS = [
    ("alice@example.com", "Alice Liddell"),
    ("bob@example.com", "Bob Martin"),
    ("carol@example.com", "Carol Shaw"),
]


async def seed_admin(settings: Settings) -> list[str]:
    """A demo admin, with the demo password (the only way in for a role: `admin_create_user`)."""
    email, name = DEMO_ADMIN
    if await accounts.get_user_by_email(email) is not None:
        return []
    admin = await accounts.admin_create_user(
        OPERATOR, {"email": email, "name": name, "password": DEMO_PASSWORD, "role": "admin"}
    )
    await _confirm(admin)
    return [f"admin {email} (password: {DEMO_PASSWORD!r})"]


async def seed_users(settings: Settings) -> list[str]:
    """Demo users with a shared demo password."""
    created = []
    for email, name in DEMO_USERS:
        if await accounts.get_user_by_email(email) is None:
            user = await accounts.create_user({"email": email, "name": name, "password": DEMO_PASSWORD})
            await _confirm(user)
            created.append(f"user {email} (password: {DEMO_PASSWORD!r})")
    return created


async def _confirm(user: accounts.User) -> None:
    """Confirm a demo account as its owner would, through the token of the confirmation link (the
    email itself is not sent): every flow works for it, magic links included, which phx.gen.auth
    refuses to unconfirmed accounts that have a password."""
    tokens: list[str] = []

    def link(token: str) -> str:
        tokens.append(token)
        return token

    await accounts.deliver_user_confirmation_instructions(user, link)
    await accounts.confirm_user(tokens[0])


# One step per context, in dependency order; each returns lines describing what it created.
DEMO_ROOMS = [
    # slug, name, member emails (admins may join every room anyway)
    ("general", "General", [email for email, _ in DEMO_USERS]),
    ("secret", "Secret", []),
]


async def seed_rooms(settings: Settings) -> list[str]:
    """Chat rooms for the channels demo: `room:general` for the demo users, `room:secret` for admins."""
    created = []
    for slug, name, members in DEMO_ROOMS:
        room = await chat.get_room_by_slug(slug)
        if room is None:
            room = await chat.create_room({"slug": slug, "name": name})
            created.append(f"room {slug} ({', '.join(members) or 'admins only'})")
        for email in members:
            user = await accounts.get_user_by_email(email)
            if user is not None:
                await chat.add_member(room, user)
    return created


STEPS: list[SeedStep] = [seed_admin, seed_users, seed_rooms]


async def run(settings: Settings) -> list[str]:
    """Run every seed step; refuses to run in prod (demo accounts must never exist there)."""
    if settings.env == "prod":
        raise PermissionError("seeds are demo data and never run in prod")
    report: list[str] = []
    for step in STEPS:
        report.extend(await step(settings))
    return report
