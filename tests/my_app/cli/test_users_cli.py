"""`myapp users ...`: create, promote and list, run as operators run them.

Commands that touch the database run in a child process on a database of their own (cloned from
the migrated test template), on committed data; refusals that come before the database are
checked in-process with Typer's CliRunner.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import bcrypt
import psycopg
import pytest
import typer
from typer.testing import CliRunner

from my_app import database, migrations
from my_app.cli import users
from my_app.cli._output import abort
from my_app.config import Settings
from tests.support.processes import PROJECT_ROOT, child_env, output_lines, plain

RUN_USERS_APP = "from my_app.cli.users import app; app()"
PASSWORD = "a long enough passphrase"

# The `myapp` app with only this group, as `myapp users ...` is registered.
cli = typer.Typer()
cli.add_typer(users.app, name="users")


class Partition:
    """A database of this module's own, and how a child process reaches it."""

    def __init__(self, name: str, own: database.Database) -> None:
        self.env: dict[str, str | None] = {"MYAPP_ENV": "test", database.TEST_PARTITION_VARIABLE: name}
        self.database = own

    def users(self, *args: str, stdin: str = "", new_session: bool = False) -> subprocess.CompletedProcess[str]:
        """Run `myapp users <args>` in a child on this database."""
        return subprocess.run(
            [sys.executable, "-c", RUN_USERS_APP, *args],
            cwd=PROJECT_ROOT,
            env=child_env(self.env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            # No controlling terminal: the hidden prompt reads the piped stdin, as in a script.
            start_new_session=new_session,
        )

    def succeeds(self, *args: str, stdin: str = "", new_session: bool = False) -> str:
        result = self.users(*args, stdin=stdin, new_session=new_session)
        assert result.returncode == 0, f"users {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stdout + result.stderr
        return plain(result.stdout)

    def fails(self, *args: str, stdin: str = "") -> str:
        """The one error line of a refused command."""
        result = self.users(*args, stdin=stdin)
        assert result.returncode == 1, f"users {' '.join(args)} should fail:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stdout + result.stderr
        [line] = output_lines(result.stderr)
        return line

    def insert_user(self, email: str, name: str, *, role: str = "user", confirmed: bool = False) -> None:
        """A committed user, written directly (faster than a child process when the test is not about create)."""
        with psycopg.connect(self.database.url) as connection:
            connection.execute(
                "INSERT INTO users (id, email, name, role, confirmed_at)"
                " VALUES (gen_random_uuid(), %s, %s, %s, CASE WHEN %s THEN now() END)",
                (email, name, role, confirmed),
            )

    def user_rows(self) -> list[tuple[str, str, str, str | None]]:
        """(email, name, role, hashed_password) of every user, by email."""
        with psycopg.connect(self.database.url) as connection:
            rows = connection.execute(
                "SELECT email::text, name, role::text, hashed_password FROM users ORDER BY email"
            ).fetchall()
        return [(str(email), str(name), str(role), hashed) for email, name, role, hashed in rows]


@pytest.fixture(scope="module")
def partition() -> Iterator[Partition]:
    name = f"users{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(database.TEST_PARTITION_VARIABLE, raising=False)
        template = database.resolve(Settings())
        patch.setenv(database.TEST_PARTITION_VARIABLE, name)
        own = database.resolve(Settings())
    try:
        try:
            database.create(own, template=template.name)
        except psycopg.Error:
            # The template is in use (a run without xdist holds it open): build the schema instead.
            database.create(own)
            migrations.migrate(own)
        yield Partition(name, own)
    finally:
        database.drop(own)


@pytest.fixture
def db_cli(partition: Partition) -> Iterator[Partition]:
    """The partition, with no users before and after the test (its data is committed)."""
    _truncate(partition)
    try:
        yield partition
    finally:
        _truncate(partition)


def _truncate(partition: Partition) -> None:
    with psycopg.connect(partition.database.url) as connection:
        connection.execute("TRUNCATE users, procrastinate_jobs CASCADE")


# --- In-process: help, and refusals that never reach the database ---

runner = CliRunner()


def test_help_lists_the_commands_with_examples() -> None:
    result = runner.invoke(cli, ["users", "--help"])

    assert result.exit_code == 0
    text = plain(result.stdout)
    for command in ("create", "promote", "list"):
        assert command in text
    assert "myapp users create ada@example.com" in text


def test_create_help_explains_the_password_options() -> None:
    result = runner.invoke(cli, ["users", "create", "--help"])

    assert result.exit_code == 0
    text = plain(result.stdout)
    for option in ("--name", "--admin", "--password-stdin"):
        assert option in text
    assert "--password-stdin" in text
    assert "Examples" in text


@pytest.mark.parametrize("command", [["create", "--name", "Ada", "--password-stdin"], ["promote"]])
@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "must be a valid email"),
        ("two words@example.com", "must be a valid email"),
        ("a" * 160 + "@example.com", "should be at most 160 character(s)"),
    ],
)
def test_a_bad_email_is_refused_before_anything_else(command: list[str], email: str, message: str) -> None:
    name, *options = command

    result = runner.invoke(cli, ["users", name, email, *options], input=f"{PASSWORD}\n")

    assert result.exit_code == 1
    assert output_lines(result.stderr) == [f"error: invalid email {email!r}: {message}"]
    assert "Password" not in result.stdout


@pytest.mark.parametrize("stdin", ["\n", "   \n", ""])
def test_create_refuses_a_blank_password(stdin: str) -> None:
    result = runner.invoke(
        cli, ["users", "create", "ada@example.com", "--name", "Ada", "--password-stdin"], input=stdin
    )

    assert result.exit_code == 1
    assert output_lines(result.stderr) == ["error: could not create the user: password can't be blank"]


def test_create_without_a_name_is_a_usage_error() -> None:
    result = runner.invoke(cli, ["users", "create", "ada@example.com", "--password-stdin"], input=f"{PASSWORD}\n")

    assert result.exit_code == 2
    assert "--name" in plain(result.stderr)


def test_create_asks_twice_and_retries_when_the_passwords_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stop where the database would be reached: this test is about the prompt only.
    monkeypatch.setattr(users, "_run", lambda call, doing: abort(f"could not {doing}: stopped here"))
    result = runner.invoke(
        cli,
        ["users", "create", "ada@example.com", "--name", "Ada"],
        input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 1
    text = plain(result.stdout)
    assert text.count("Password") >= 2
    assert "Repeat for confirmation" in text
    assert "do not match" in plain(result.stdout + result.stderr)
    assert PASSWORD not in text, "the password is never echoed"


# --- In a child process, on a database of its own ---


def test_create_with_password_stdin_creates_a_user_who_can_log_in(db_cli: Partition) -> None:
    out = db_cli.succeeds(
        "create", "ada@example.com", "--name", "Ada Lovelace", "--password-stdin", stdin=f"{PASSWORD}\n"
    )

    assert "created user ada@example.com" in out
    [(email, name, role, hashed)] = db_cli.user_rows()
    assert (email, name, role) == ("ada@example.com", "Ada Lovelace", "user")
    assert hashed is not None
    assert bcrypt.checkpw(PASSWORD.encode(), hashed.encode())


def test_create_admin_from_the_hidden_prompt(db_cli: Partition) -> None:
    out = db_cli.succeeds(
        "create", "root@example.com", "--name", "Root", "--admin", stdin=f"{PASSWORD}\n{PASSWORD}\n", new_session=True
    )

    assert "created admin root@example.com" in out
    [(email, _, role, hashed)] = db_cli.user_rows()
    assert (email, role) == ("root@example.com", "admin")
    assert hashed is not None
    assert bcrypt.checkpw(PASSWORD.encode(), hashed.encode())


def test_create_reports_every_refusal_of_the_context_and_writes_nothing(db_cli: Partition) -> None:
    line = db_cli.fails("create", "ada@example.com", "--name", "x" * 161, "--password-stdin", stdin="short\n")

    assert line == (
        "error: could not create the user: name should be at most 160 character(s); "
        "password should be at least 12 character(s)"
    )
    assert db_cli.user_rows() == []


def test_create_refuses_a_taken_email_in_any_letter_case(db_cli: Partition) -> None:
    db_cli.insert_user("ada@example.com", "Ada")

    line = db_cli.fails("create", "ADA@example.com", "--name", "Other", "--password-stdin", stdin=f"{PASSWORD}\n")

    assert line == "error: could not create the user: email has already been taken"
    assert [row[:2] for row in db_cli.user_rows()] == [("ada@example.com", "Ada")]


def test_promote_makes_a_user_an_admin_once(db_cli: Partition) -> None:
    db_cli.insert_user("ada@example.com", "Ada")

    assert "ada@example.com is now an admin" in db_cli.succeeds("promote", "ADA@example.com")
    assert [row[2] for row in db_cli.user_rows()] == ["admin"]
    assert "ada@example.com is already an admin" in db_cli.succeeds("promote", "ada@example.com")


def test_promote_an_unknown_user_says_so(db_cli: Partition) -> None:
    line = db_cli.fails("promote", "nobody@example.com")

    assert line == "error: could not promote the user: no user with email nobody@example.com"


def test_list_says_so_when_there_are_no_users(db_cli: Partition) -> None:
    assert output_lines(db_cli.succeeds("list")) == ["no users"]


def test_list_shows_every_user_with_role_and_confirmation_oldest_first(db_cli: Partition) -> None:
    db_cli.insert_user("ada@example.com", "Ada Lovelace")
    db_cli.insert_user("root@example.com", "Root", role="admin", confirmed=True)

    out = db_cli.succeeds("list")

    lines = output_lines(out)
    header = next(line for line in lines if "email" in line)
    assert [column for column in ("email", "name", "role", "confirmed", "inserted") if column in header] == [
        "email",
        "name",
        "role",
        "confirmed",
        "inserted",
    ]
    ada = next(line for line in lines if "ada@example.com" in line)
    root = next(line for line in lines if "root@example.com" in line)
    assert "Ada Lovelace" in ada
    assert " user " in ada
    assert " no " in ada
    assert " admin " in root
    assert " no " not in root
    assert lines.index(ada) < lines.index(root), "oldest first"
    assert lines[-1] == "2 users"
