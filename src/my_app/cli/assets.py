"""`myapp assets ...`: digested static files for releases (the seed's `mix phx.digest` and `phx.digest.clean`).

`myapp assets digest` copies every file of `my_app_web/static/` to `my_app_web/priv/static/` under a
name carrying its content's digest (`app.css` -> `app-<md5>.css`) and writes `cache_manifest.json`
there; run it before building a release, so the wheel carries them. Pages link the digested names
whether or not it ran (the server computes them from the files), so dev needs no build step.

The web layer does the work; it is reached by import string, as the core never imports `my_app_web`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from my_app.cli._output import console, info

STATIC_FILES = "my_app_web.static_files"

app = typer.Typer(
    help="Digested static files for releases (mix phx.digest).\n\n"
    "Examples:\n\n  myapp assets digest\n\n  myapp assets clean --keep 2\n\n  myapp assets clean --all",
    no_args_is_help=True,
)


def _static_files() -> ModuleType:
    """The web layer's static files module (`my_app_web.static_files`)."""
    return importlib.import_module(STATIC_FILES)


@app.command()
def digest(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default: my_app_web/priv/static).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the summary line only.")] = False,
) -> None:
    """Copy each static file under its digested name and write cache_manifest.json (mix phx.digest).

    Copies from earlier runs stay, for pages still open from the previous release;
    `myapp assets clean` removes the old ones.

    Examples:

      myapp assets digest
    """
    static_files = _static_files()
    report = static_files.digest(output=output or static_files.DIGEST_PATH)
    if not quiet:
        from rich.table import Table  # only for the listing; `myapp --help` loads this module

        table = Table(title="Digested static files", title_justify="left")
        table.add_column("file", overflow="fold")
        table.add_column("digest (md5)", no_wrap=True)
        table.add_column("bytes", justify="right")
        manifest = static_files.read_manifest(report.output)
        for logical, name in sorted(manifest.get("latest", {}).items()):
            entry = manifest["digests"][name]
            table.add_row(logical, entry["digest"], f"{entry['size']:,}")
        console.print(table)
    where = _shown(report.output)
    info(f"{report.files} files digested into {where} ({report.written} new, and {report.manifest.name})")


@app.command()
def clean(
    keep: Annotated[
        int, typer.Option(min=1, help="Keep the digests of the last KEEP runs of `digest` (the current one included).")
    ] = 2,
    everything: Annotated[bool, typer.Option("--all", help="Remove every digested file and the manifest.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The folder `digest` wrote (default: my_app_web/priv/static).")
    ] = None,
) -> None:
    """Remove old digested files (mix phx.digest.clean); --all removes them all.

    Examples:

      myapp assets clean

      myapp assets clean --keep 1

      myapp assets clean --all
    """
    static_files = _static_files()
    folder = output or static_files.DIGEST_PATH
    removed = static_files.clean(folder, keep=keep, everything=everything)
    info(f"removed {removed} digested {'file' if removed == 1 else 'files'} from {_shown(folder)}")


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is under it (shorter in the terminal)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
