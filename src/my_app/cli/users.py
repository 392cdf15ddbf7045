"""`myapp users ...`: create, promote and list user accounts (for operators).

The CLI acts as the system: it calls the Accounts context with `Scope.for_system()`, the operator's
scope, which may do what an admin may. No request can build that scope.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from my_app.cli._output import abort, console, info
from my_app.cli.db import run_in_app
from my_app.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from my_app.accounts.scope import Scope

# `myapp --help` loads this module: the Accounts context (and the application behind it) and
# rich's tables are imported inside the commands that use them.

T = TypeVar("T")
app = typer.Typer(
    help="Manage user accounts: create, promote, list.\n\n"
    "Examples:\n\n  myapp users create ada@example.com --name 'Ada Lovelace' --admin\n\n"
    "  myapp users promote ada@example.com\n\n  myapp users list",
    no_args_is_help=True,
)

Email = Annotated[str, typer.Argument(metavar="EMAIL", help="The user's email address.", show_default=False)]


@app.command()
def create(
    email: Email,
    name: Annotated[str, typer.Option("--name", help="The user's full name.", show_default=False)],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (no prompt).")
    ] = False,
) -> None:
    """Create a user with a password, checked as the API checks it (12-72 characters).

    The password is asked for twice, hidden, unless --password-stdin is given.

    Examples:

      myapp users create ada@example.com --name "Ada Lovelace"

      myapp users create root@example.com --name Root --admin

      echo "$PASSWORD" | myapp users create ci@example.com --name CI --password-stdin
    """
    _check_email(email)
    password = _read_password(from_stdin=password_stdin)
    if not password.strip():  # admin_create_user allows no password; an operator always sets one
        abort("could not create the user: password can't be blank")
    from my_app import accounts

    attrs = {"email": email, "name": name, "password": password, "role": "admin" if admin else "user"}
    user = _run(lambda: accounts.admin_create_user(_operator(), attrs), doing="create the user")
    info(f"created {user.role.value} {user.email} ({user.id})")


@app.command()
def promote(email: Email) -> None:
    """Make an existing user an admin.

    Example: myapp users promote ada@example.com
    """
    from my_app import accounts

    _check_email(email)

    async def promote_by_email() -> tuple[accounts.User, bool]:
        user = await accounts.get_user_by_email(email)
        if user is None:
            raise NotFoundError("user", email)
        if user.role is accounts.Role.ADMIN:
            return user, False
        return await accounts.update_user(_operator(), user, {"role": "admin"}), True

    user, promoted = _run(promote_by_email, doing="promote the user")
    info(f"{user.email} is now an admin" if promoted else f"{user.email} is already an admin")


@app.command("list")
def list_() -> None:
    """List every user, oldest first: email, name, role, confirmed, inserted.

    Example: myapp users list
    """
    from rich.table import Table

    from my_app import accounts

    users = _run(lambda: accounts.list_users(_operator()), doing="list the users")
    if not users:
        console.print("no users")
        return
    table = Table("email", "name", "role", "confirmed", "inserted", header_style="bold")
    for user in users:
        role = "[magenta]admin[/magenta]" if user.role is accounts.Role.ADMIN else "user"
        confirmed = _date(user.confirmed_at) if user.confirmed_at else "[yellow]no[/yellow]"
        table.add_row(user.email, user.name, role, confirmed, _date(user.inserted_at))
    console.print(table)
    console.print(f"{len(users)} user{'s' if len(users) != 1 else ''}")


def _operator() -> Scope:
    """The scope the CLI acts with: the system's, which may do what an admin may."""
    from my_app.accounts.scope import Scope

    return Scope.for_system()


def _check_email(email: str) -> None:
    """Refuse a malformed address before asking for anything else (the context checks it again)."""
    from my_app.accounts.user import UserEmailChange
    from my_app.changeset import cast

    try:
        cast(UserEmailChange, {"email": email})
    except ValidationError as exc:
        abort(f"invalid email {email!r}: {', '.join(exc.errors.get('email', []))}")


def _read_password(*, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _run(call: Callable[[], Awaitable[T]], *, doing: str) -> T:
    """Run `call` with the app's core started, and turn refusals into one error line."""
    try:
        return run_in_app(call)
    except NotFoundError as exc:
        abort(f"could not {doing}: no user with email {exc.identifier}")
    except ValidationError as exc:
        abort(f"could not {doing}: {exc}")  # `field message, message; field message`


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
