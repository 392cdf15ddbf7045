"""Developer commands: test, format, check, console, routes."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer

from my_app.cli._audit import audit_lock
from my_app.cli._output import abort, console, error_console, fail, info
from my_app.cli.db import current_settings

_EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}
_SOURCES = [folder for folder in ("src", "tests", "bench") if Path(folder).is_dir()]
# import-linter has no `python -m` entry point; its script sits beside this interpreter in the venv.
_LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def run_tests(
    ctx: typer.Context,
    cover: Annotated[bool, typer.Option("--cover", help="Report line coverage of src/.")] = False,
    stale: Annotated[bool, typer.Option("--stale", help="Only tests affected by changed code (testmon).")] = False,
) -> None:
    """Run the test suite with pytest (mix test); other arguments go to pytest.

    Examples:

      myapp test

      myapp test tests/my_app/test_config.py -x

      myapp test -m integration

      myapp test --cover
    """
    args = [sys.executable, "-m", "pytest", *ctx.args]
    if cover:
        args += ["--cov=my_app", "--cov=my_app_web", "--cov-report=term-missing:skip-covered"]
    if stale:
        # testmon tracks which code each test ran, so it cannot share work across xdist workers.
        args += ["--testmon", "-p", "no:xdist"]
    raise typer.Exit(subprocess.call(args))


def format_(
    check: Annotated[bool, typer.Option("--check", help="Only report files that would change.")] = False,
) -> None:
    """Format the code with ruff (mix format)."""
    args = [sys.executable, "-m", "ruff", "format", *(["--check"] if check else []), *_SOURCES]
    code = subprocess.call(args)
    if code == 0 and not check:
        subprocess.call([sys.executable, "-m", "ruff", "check", "--fix", "--select", "I", "--quiet", *_SOURCES])
    raise typer.Exit(code)


def check(
    audit: Annotated[
        bool, typer.Option("--audit/--no-audit", help="Audit the locked dependencies with pip-audit (on by default).")
    ] = True,
) -> None:
    """Lint, type-check and scan the code: ruff, mypy, bandit, import-linter, pip-audit over uv.lock.

    (credo, dialyzer, sobelow, hex.audit.) Every step runs, then the command fails naming the steps
    that failed. When the vulnerability service cannot be reached, the audit says so in one line
    and does not fail the command; --no-audit skips it on purpose.
    """
    failed, skipped = [], []
    for name, step in check_steps(audit=audit):
        console.rule(name)
        passed = step() if callable(step) else subprocess.call(step) == 0
        if passed is None:
            skipped.append(name)
        elif not passed:
            failed.append(name)
    if failed:
        fail(f"failed: {', '.join(failed)}")
        raise typer.Exit(1)
    info("all checks passed" + (f" (skipped: {', '.join(skipped)})" if skipped else ""))


# A command to run, or a function: True passed, False failed, None could not run (said why).
Step = list[str] | Callable[[], bool | None]


def check_steps(*, audit: bool = True) -> list[tuple[str, Step]]:
    """The steps of `myapp check`: a label and the command each runs (or the function, for the audit).

    Examples:
        >>> [name for name, _ in check_steps()][-3:]
        ['bandit', 'import-linter (layering contracts)', 'pip-audit (uv.lock)']
        >>> [name for name, _ in check_steps(audit=False)][-1]
        'import-linter (layering contracts)'
    """
    steps: list[tuple[str, Step]] = [
        ("ruff check", [sys.executable, "-m", "ruff", "check", *_SOURCES]),
        ("ruff format --check", [sys.executable, "-m", "ruff", "format", "--check", *_SOURCES]),
        ("mypy", [sys.executable, "-m", "mypy"]),
        ("bandit", [sys.executable, "-m", "bandit", "-q", "-c", "pyproject.toml", "-r", "src"]),
        # The contracts in pyproject.toml's [tool.importlinter]; the graph takes a second to build,
        # so no cache directory is left in the project.
        ("import-linter (layering contracts)", [_LINT_IMPORTS, "--no-logo", "--no-cache", "pyproject.toml"]),
    ]
    if audit:
        steps.append(("pip-audit (uv.lock)", audit_dependencies))
    return steps


def audit_dependencies(service_args: Sequence[str] = ()) -> bool | None:
    """Report pip-audit's verdict on uv.lock: False for vulnerabilities or a failure of the tools.

    None when the vulnerability service cannot be reached: one yellow line, no failure — and the
    final line of `myapp check` names the skipped step, so it is never a silent pass.
    """
    result = audit_lock(Path.cwd(), service_args=service_args)
    if result.status == "unreachable":
        _warn_line(f"pip-audit skipped: {result.detail}; nothing was audited")
        return None
    if result.status == "error":
        fail(result.detail)
        return False
    if result.unknown:
        _warn_line(f"not audited, unknown to the vulnerability service: {', '.join(result.unknown)}")
    if result.status == "vulnerable":
        for vulnerability in result.vulnerabilities:
            fail(str(vulnerability))
        return False
    info(f"no known vulnerabilities in the {result.audited} audited packages of uv.lock")
    return True


def _warn_line(message: str) -> None:
    # One line whatever the terminal's width, so that a CI log shows it whole.
    error_console.print(f"[yellow]! {message}[/yellow]", soft_wrap=True, highlight=False)


def console_(
    no_start: Annotated[bool, typer.Option("--no-start", help="Do not connect to the database.")] = False,
) -> None:
    """An async-aware Python shell with the app started (iex -S mix). Use `await` at the prompt.

    Example: myapp console   then   >>> await repo.ping()
    """
    from IPython import start_ipython
    from IPython.core.async_helpers import get_asyncio_loop

    from my_app import application, emails, jobs, mailer, repo
    from my_app.cli._web import email_links

    settings = current_settings()
    loop = get_asyncio_loop()  # type: ignore[no-untyped-call]  # IPython runs every `await` on this one loop, so the pool stays valid
    running = application.Application.build(settings, links=email_links(settings))
    if not no_start:
        loop.run_until_complete(running.start())
    namespace = {
        "settings": settings,
        "repo": repo,
        "jobs": jobs,
        "mailer": mailer,
        "emails": emails,
        "app": running,
        **_context_modules(),
    }
    console.print(f"[bold]MyApp console[/bold] ({settings.env}). In scope: {', '.join(sorted(namespace))}")
    try:
        start_ipython(argv=["--no-banner", "--no-confirm-exit"], user_ns=namespace)
    finally:
        loop.run_until_complete(running.stop())


def routes() -> None:
    """List every route: method, path and handler (mix phx.routes)."""
    from fastapi.routing import iter_route_contexts
    from rich.table import Table

    endpoint = importlib.import_module("my_app_web.endpoint")
    web_app = endpoint.create_app(current_settings(), start_application=False)
    table = Table("method", "path", "handler", box=None, header_style="bold")
    for route in iter_route_contexts(web_app.routes):
        kind = type(route.original_route).__name__
        methods = ", ".join(sorted(route.methods or [])) or ("WS" if "WebSocket" in kind else "*")
        handler = route.endpoint
        name = f"{handler.__module__}.{handler.__qualname__}" if handler else (route.name or "")
        table.add_row(methods, route.path or "", name)
    for path, socket in getattr(web_app, "sockets", {}).items():
        handler_class = type(socket.handler)
        table.add_row("WS", path, f"{handler_class.__module__}.{handler_class.__qualname__}")
    console.print(table)


def _context_modules() -> dict[str, object]:
    from my_app.schema_registry import CONTEXTS

    modules: dict[str, object] = {}
    for dotted in CONTEXTS:
        package = dotted.rsplit(".", 1)[0] if dotted.count(".") > 1 else dotted
        modules[package.rsplit(".", 1)[-1]] = importlib.import_module(package)
    return modules


def bench(ctx: typer.Context) -> None:
    """Run the benchmark suite (bench/README.md): one table of figures, same-run baselines and targets.

    Runs from a checkout (bench/ is not in the release). Needs `wrk` for the HTTP figures (Debian:
    apt install wrk). Other arguments go to the suite. Every figure also lands in bench/results/.

    Examples:

      myapp bench

      myapp bench --quick

      myapp bench --only http,jobs
    """
    if not Path("bench", "suite.py").is_file():
        abort("myapp bench runs from the checkout's root (bench/suite.py is not here)")
    raise typer.Exit(subprocess.call([sys.executable, "-m", "bench.suite", *ctx.args]))


def register(app: typer.Typer) -> None:
    app.command(name="test", context_settings=_EXTRA_ARGS)(run_tests)
    app.command(name="bench", context_settings=_EXTRA_ARGS)(bench)
    app.command(name="format")(format_)
    app.command()(check)
    app.command(name="console")(console_)
    app.command()(routes)
