"""`myapp release`: the wheel runs the app in production mode with no checkout anywhere near it.

The release is built from a copy of the repository's files (so this checkout's digested static
folder is left alone), then installed into a new virtual environment: its dependencies at the
versions of the release's requirements.txt (with uv's pip-compatible installer, from its cache),
then the wheel itself with the venv's own `pip install --no-deps`, and `pip check` confirms that
the wheel's declared dependencies are all satisfied. From a folder holding nothing but a log, with
MYAPP_ENV=prod and the production variables, the venv's `myapp` migrates a new database, serves
with `--workers 2` and runs a job worker that delivers a sign-up's email to a real SMTP server.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from my_app import database
from tests.support.databases import scratch_database
from tests.support.processes import answers, child_env, copy_repository_files, free_port, stop, wait_until
from tests.support.smtp import FreePortController, Inbox

pytestmark = pytest.mark.integration

VERSION = "0.1.0"
WHEEL = f"my_app-{VERSION}-py3-none-any.whl"
START_TIMEOUT = 120
# A secret of the length prod asks for; not the dev/test value, which prod refuses.
SECRET = "release-test-" + "s3cr3t" * 12
# Variables of this test run that must not reach the release: they would point it at this checkout.
_CHECKOUT_VARIABLES = ("PYTHONPATH", "VIRTUAL_ENV", "MYAPP_TEST_PARTITION", "MYAPP_EMBEDDED_POSTGRES_URL")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`myapp release --out-dir DIR`, run in a copy of the repository's files (tracked and not ignored)."""
    copy = tmp_path_factory.mktemp("checkout")
    copy_repository_files(copy)
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "my_app.cli", "release", "--out-dir", str(out)],
        cwd=copy,
        env=child_env({"PYTHONPATH": str(copy / "src")}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"release {VERSION} in {out}" in built.stdout
    return out


@pytest.fixture(scope="module")
def venv(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the release installed: requirements, then the wheel with pip."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    env = child_env(dict.fromkeys(_CHECKOUT_VARIABLES))
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, env=env, timeout=120)
    python = root / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    requirements = release / "requirements.txt"
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements)],
        check=True,
        env=env,
        timeout=600,
    )
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", str(release / WHEEL)], check=True, env=env, timeout=300)
    checked = subprocess.run([*pip, "check"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert checked.returncode == 0, f"the wheel's dependencies are not all installed:\n{checked.stdout}"
    return root


def test_the_wheel_carries_what_the_app_reads_at_run_time(release: Path) -> None:
    names = zipfile.ZipFile(release / WHEEL).namelist()

    def having(part: str) -> list[str]:
        return [name for name in names if part in name]

    assert "my_app_web/priv/static/cache_manifest.json" in names, "no digested static files (myapp assets digest)"
    assert any(re.search(r"priv/static/app-[0-9a-f]{32}\.css$", name) for name in names)
    assert having("my_app_web/templates/layouts/"), "no page templates"
    assert having("my_app/priv/templates/email/"), "no email templates"
    assert having("my_app/priv/migrations/versions/"), "no migrations"
    assert "my_app/priv/gettext/de/LC_MESSAGES/messages.po" in names, "no German catalog"
    assert not having("tests/"), "the tests do not belong in the wheel"
    requirements = (release / "requirements.txt").read_text()
    assert re.search(r"^fastapi==\S+$", requirements, re.MULTILINE), "requirements.txt pins no exact versions"
    assert "pytest" not in requirements, "dev tools are not runtime requirements"
    assert (release / f"my_app-{VERSION}.tar.gz").is_file()


@dataclass
class Release:
    """The installed release's commands, run from a folder outside any checkout."""

    venv: Path
    cwd: Path
    env: dict[str, str]

    def command(self, *args: str) -> list[str]:
        return [str(self.venv / "bin" / "myapp"), *args]

    def run(self, *args: str, **overrides: str | None) -> subprocess.CompletedProcess[str]:
        env = {key: value for key, value in {**self.env, **overrides}.items() if value is not None}
        return subprocess.run(
            self.command(*args), cwd=self.cwd, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    def start(self, log: Path, *args: str) -> subprocess.Popen[str]:
        with log.open("w") as output:
            return subprocess.Popen(
                self.command(*args), cwd=self.cwd, env=self.env, stdout=output, stderr=subprocess.STDOUT, text=True
            )


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = FreePortController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture
def installed(venv: Path, tmp_path: Path, smtp: tuple[Inbox, int]) -> Iterator[Release]:
    """The release, set up as production: a new empty database, the prod variables, mail over SMTP."""
    with scratch_database("release") as target:
        database.create(target)
        empty = tmp_path / "run"
        empty.mkdir()
        env = child_env(dict.fromkeys(_CHECKOUT_VARIABLES))
        env.update(
            {
                "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}",
                "MYAPP_ENV": "prod",
                "DATABASE_URL": target.url,
                # The test's PostgreSQL has no TLS; prod verifies the server's certificate by default.
                "DATABASE_SSL": "disable",
                "SECRET_KEY_BASE": SECRET,
                "APP_HOST": "myapp.example.com",
                "TRUSTED_HOSTS": "127.0.0.1,myapp.example.com",
                "MAILER_ADAPTER": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp[1]),
                "SMTP_SECURITY": "none",
                "BCRYPT_ROUNDS": "4",
                "CACHE_URL": "off",
                "JOB_QUEUES": "default:2,emails:2",
            }
        )
        yield Release(venv=venv, cwd=empty, env=env)


def test_prod_refuses_to_start_without_its_variables(installed: Release) -> None:
    started = installed.run("server", SECRET_KEY_BASE=None)

    assert started.returncode == 1
    assert "SECRET_KEY_BASE" in started.stderr
    assert "Traceback" not in started.stdout + started.stderr


def test_the_installed_release_migrates_serves_and_runs_jobs(
    installed: Release, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, _port = smtp
    where = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import my_app, my_app_web; print(my_app.__file__)"],
        cwd=installed.cwd,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(installed.venv)), f"the release imported {where}, not the installed wheel"

    migrated = installed.run("db", "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    port = free_port()
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    server = installed.start(server_log, "server", "--port", str(port), "--workers", "2")
    worker = installed.start(worker_log, "worker")
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            for process, log in ((server, server_log), (worker, worker_log)):
                if process.poll() is not None:
                    raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()}")
            return answers(f"{base}/ready")

        wait_until(ready, timeout=START_TIMEOUT, message="the installed release never became ready")
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/health").json()["status"] == "ok"

            page = client.get("/users/log-in")
            assert page.status_code == 200
            stylesheet = re.search(r'href="(/static/app-[0-9a-f]{32}\.css)"', page.text)
            assert stylesheet is not None, "the page links no digested stylesheet"
            css = client.get(stylesheet.group(1))
            assert css.status_code == 200
            assert "immutable" in css.headers["cache-control"]
            assert "Anmelden" in client.get("/users/log-in", params={"locale": "de"}).text

            # Production mode: no dev routes, no API docs unless asked for, no traces on errors.
            for path in ("/dev/mailbox", "/dev/dashboard", "/api/docs", "/api/openapi.json"):
                assert client.get(path).status_code == 404, f"{path} is served in prod"
            assert client.get("/", headers={"Host": "evil.example"}).status_code == 400

            # A client's own X-Forwarded-For is not believed (no TRUSTED_PROXIES).
            client.get("/health", headers={"X-Forwarded-For": "203.0.113.7"})

            signed_up = client.post(
                "/api/users/register",
                json={"user": {"email": "ada@example.com", "name": "Ada", "password": "a long enough password"}},
            )
            assert signed_up.status_code == 201, signed_up.text

        # A sign-up sends a welcome and a confirmation email, each a job the worker runs.
        wait_until(lambda: len(inbox.received) >= 2, timeout=30, message="the worker never sent the sign-up's emails")
        assert [email.rcpt_tos for email in inbox.received] == [["ada@example.com"]] * 2
        # Built by the worker from the wheel's email templates, with links on APP_HOST.
        assert "Open MyApp: https://myapp.example.com/" in inbox.body_of("Welcome")
        assert "https://myapp.example.com/users/confirm/" in inbox.body_of("Confirm")

        for process in (server, worker):
            process.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert worker.wait(timeout=60) == 0
    finally:
        stop(server)
        stop(worker)

    output = server_log.read_text()
    assert "Traceback" not in output
    assert f"MyApp (prod) listening on 0.0.0.0:{port} for https://myapp.example.com" in output
    access = [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"request"' in line]
    assert access, f"no JSON access lines in prod:\n{output[-2000:]}"
    forwarded = [line for line in access if line.get("path") == "/health" and line.get("client") != "127.0.0.1"]
    assert not forwarded, f"an untrusted X-Forwarded-For was believed: {forwarded}"
    assert any(line.get("path") == "/api/users/register" and line.get("status") == 201 for line in access)
    assert "Traceback" not in worker_log.read_text()
