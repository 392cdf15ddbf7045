"""`myapp release`: the installable artifact (the seed's `mix release` and `mix assets.deploy`).

A release is a wheel: the code with everything it reads at run time (templates, the digested static
files, migrations, gettext catalogs, email templates), plus `requirements.txt`, the exact runtime
versions of uv.lock. On any machine with Python 3.11+:

    pip install -r dist/requirements.txt dist/my_app-<version>-py3-none-any.whl
    MYAPP_ENV=prod DATABASE_URL=... SECRET_KEY_BASE=... APP_HOST=... myapp db migrate
    ... myapp server        # and, elsewhere or beside it, myapp worker

The build runs from a checkout (it needs pyproject.toml and uv.lock) with `uv` (`pip install uv`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

import my_app
from my_app.cli import assets
from my_app.cli._output import abort, console, info

# The checkout this code runs from: src/my_app/cli/release.py -> the folder holding pyproject.toml.
CHECKOUT = Path(my_app.__file__).resolve().parents[2]
REQUIREMENTS = "requirements.txt"


def release(
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Where to write the release.")] = Path("dist"),
) -> None:
    """Build the release: digest static files, then a wheel, an sdist and the locked requirements.

    The wheel carries templates, digested static files, migrations and translations; install it
    with `pip install -r DIR/requirements.txt DIR/my_app-*.whl` and run `myapp server`, `myapp
    worker` and `myapp db migrate` with the production environment (docs/deployment.md).

    Examples:

      myapp release

      myapp release --out-dir /tmp/release
    """
    if not (CHECKOUT / "pyproject.toml").is_file() or not (CHECKOUT / "uv.lock").is_file():
        abort(f"myapp release builds from a checkout (pyproject.toml and uv.lock); {CHECKOUT} has none")
    uv = _uv()
    out_dir = out_dir.resolve()
    assets.digest(output=None, quiet=True)
    with console.status("Building the wheel and the sdist..."):
        _run([uv, "build", "--wheel", "--sdist", "--out-dir", str(out_dir), str(CHECKOUT)], "uv build")
    requirements = out_dir / REQUIREMENTS
    _run(
        [
            uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--no-header",
            "--format", "requirements.txt", "--project", str(CHECKOUT), "--output-file", str(requirements),
        ],
        "uv export",
    )  # fmt: skip
    version = my_app_version()
    wheel = out_dir / f"my_app-{version}-py3-none-any.whl"
    if not wheel.is_file():
        abort(f"uv build wrote no {wheel.name} into {out_dir}")
    info(f"release {version} in {out_dir}: {wheel.name}, my_app-{version}.tar.gz, {REQUIREMENTS}")
    console.print(f"  install: pip install -r {requirements} {wheel}", highlight=False)


def my_app_version() -> str:
    """The version pyproject.toml gives the project (what the wheel is named after)."""
    import tomllib

    with (CHECKOUT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def _uv() -> str:
    """uv next to this Python (as `make install` puts it), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        abort("myapp release needs uv: pip install uv")
    return found


def _run(command: list[str], name: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        abort(f"{name} failed ({done.returncode}):\n{(done.stderr or done.stdout).strip()}")


def register(app: typer.Typer) -> None:
    app.command()(release)
