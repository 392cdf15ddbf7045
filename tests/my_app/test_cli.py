from __future__ import annotations

import re
import string
import subprocess
import tomllib

import pytest

from my_app import migrations
from my_app.cli import dev
from my_app.config import MIN_SECRET_KEY_BYTES
from tests.support.processes import (
    MYAPP,
    PROJECT_ROOT,
    answers,
    child_env,
    free_port,
    myapp,
    output_lines,
    plain,
    stop,
    wait_until,
)

TEST_ENV: dict[str, str | None] = {"MYAPP_ENV": "test"}


def help_commands(help_text: str) -> dict[str, str]:
    """The rows of the "Commands" panel of a Typer help page: {command: its one-line summary}."""
    lines = plain(help_text).splitlines()
    start = next(i for i, line in enumerate(lines) if "Commands" in line and line.startswith("╭"))
    rows: dict[str, str] = {}
    for line in lines[start + 1 :]:
        if line.startswith("╰"):
            break
        match = re.match(r"^│ (\S+)\s+(.*?)\s*│?$", line)
        # A line with no command name would be a summary wrapped onto a second line.
        assert match, f"not one line per command: {line!r}"
        rows[match.group(1)] = match.group(2)
    return rows


def test_help_lists_every_command_with_one_line_each() -> None:
    result = myapp("--help")

    assert result.returncode == 0
    commands = help_commands(result.stdout)
    assert set(commands) >= {"server", "test", "format", "check", "console", "routes", "db", "gen", "bench", "release"}
    assert all(summary for summary in commands.values())


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("db", {"create", "drop", "migrate", "rollback", "reset", "seed", "dump", "restore", "status"}),
        ("gen", {"migration", "secret"}),
    ],
)
def test_each_command_group_lists_its_commands(group: str, expected: set[str]) -> None:
    result = myapp(group, "--help")

    assert result.returncode == 0
    assert set(help_commands(result.stdout)) >= expected


def test_an_unknown_command_is_refused_without_a_traceback() -> None:
    result = myapp("nope", env=TEST_ENV)

    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "No such command 'nope'" in plain(result.stderr)


def test_a_port_that_is_not_a_number_is_refused_without_a_traceback() -> None:
    result = myapp("server", "--port", "eighty", env=TEST_ENV)

    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "Invalid value for '--port'" in plain(result.stderr)


def test_routes_lists_the_app_s_routes() -> None:
    result = myapp("routes", env=TEST_ENV)

    assert result.returncode == 0
    rows = {tuple(line.split()[:2]) for line in output_lines(result.stdout)}
    assert {("GET", "/health"), ("GET", "/ready"), ("GET", "/")} <= rows
    assert "my_app_web.controllers.health.health" in result.stdout


def test_check_runs_import_linter_on_every_layering_contract() -> None:
    contracts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [args] = [args for name, args in dev.check_steps() if name.startswith("import-linter")]

    result = subprocess.run(args, cwd=PROJECT_ROOT, env=child_env(), capture_output=True, text=True, timeout=120)

    verdicts = dict(re.findall(r"^(.+) (KEPT|BROKEN)$", plain(result.stdout), re.MULTILINE))
    assert set(verdicts) == {contract["name"] for contract in contracts}, result.stdout + result.stderr
    # The step fails `myapp check` exactly when a contract is broken.
    assert (result.returncode == 0) == ("BROKEN" not in verdicts.values()), result.stdout


def test_gen_secret_prints_a_fresh_secret_key_base_each_time() -> None:
    first = myapp("gen", "secret")
    second = myapp("gen", "secret")

    assert first.returncode == second.returncode == 0
    secret = first.stdout.strip()
    assert "\n" not in secret
    assert len(secret) >= MIN_SECRET_KEY_BYTES
    assert set(secret) <= set(string.ascii_letters + string.digits + "-_")
    assert second.stdout.strip() != secret


def test_gen_secret_refuses_a_length_too_short_for_secret_key_base() -> None:
    result = myapp("gen", "secret", "--length", "16")

    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr


def test_gen_migration_refuses_a_name_that_is_not_snake_case() -> None:
    before = sorted((migrations.MIGRATIONS_PATH / "versions").glob("*.py"))

    result = myapp("gen", "migration", "Bad-Name", env=TEST_ENV)

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = output_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "snake_case" in lines[0]
    assert sorted((migrations.MIGRATIONS_PATH / "versions").glob("*.py")) == before


def test_a_port_out_of_range_is_refused_instead_of_wrapping_around() -> None:
    wrapped = free_port()
    server = subprocess.Popen(
        [str(MYAPP), "server", "--port", str(65536 + wrapped)],
        cwd=PROJECT_ROOT,
        env=child_env(TEST_ENV),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Either it refuses (and exits), or it serves on the wrapped-around port: whichever comes first.
        wait_until(
            lambda: server.poll() is not None or answers(f"http://127.0.0.1:{wrapped}/health"),
            timeout=60,
            message="myapp server neither refused the port nor started",
        )
        assert server.poll() == 2
        assert "--port" in plain(server.communicate(timeout=10)[1])
    finally:
        stop(server)
