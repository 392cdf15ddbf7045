"""A generator's plan: every file it creates and every file it changes, fully rendered and
formatted in memory before anything touches the disk. `--dry-run` prints the plan; a refusal (a
file that would be overwritten) writes nothing; applying writes the files and prints what next.
"""

from __future__ import annotations

import difflib
import importlib.util
import subprocess  # nosec B404
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


class PlanError(ValueError):
    """A plan that must not be applied: the one line says why."""


def environment() -> jinja2.Environment:
    """Jinja2 for generator templates. The files they produce are Python and Jinja HTML, so the
    generator's own syntax is `<% %>`, `<< >>` and `<# #>`: `{{ }}` and `{% %}` pass through as text.
    """
    # Not autoescaped: it renders source code, not HTML for a browser.
    return jinja2.Environment(  # nosec B701
        loader=jinja2.FileSystemLoader(TEMPLATES),
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701
    )


def render(template: str, **variables: Any) -> str:
    return environment().get_template(template).render(**variables)


@dataclass
class Plan:
    root: Path
    creates: dict[Path, str] = field(default_factory=dict)
    changes: dict[Path, str] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)  # the generated test files, run last

    def create(self, relative: str, content: str) -> None:
        self.creates[self.root / relative] = content

    def create_if_missing(self, relative: str, content: str) -> None:
        path = self.root / relative
        if not path.exists() and path not in self.creates:
            self.creates[path] = content

    def current(self, relative: str) -> str | None:
        """A file's text as this plan leaves it so far (None if it neither exists nor is created)."""
        path = self.root / relative
        if path in self.changes:
            return self.changes[path]
        if path in self.creates:
            return self.creates[path]
        return path.read_text() if path.exists() else None

    def change(self, relative: str, content: str) -> None:
        path = self.root / relative
        if path in self.creates:
            self.creates[path] = content
        else:
            self.changes[path] = content

    def refusals(self, *, force: bool) -> list[str]:
        """What this plan would overwrite without --force (one line each)."""
        if force:
            return []
        return [f"{self._show(path)} exists (--force overwrites it)" for path in self.creates if path.exists()]

    def format(self) -> None:
        """Run ruff over every Python file of the plan: imports sorted and merged, unused imports of
        new files dropped, the project's format — with the project's settings, in memory."""
        ruff = _ruff()
        for files, drop_unused in ((self.creates, True), (self.changes, False)):
            for path, content in files.items():
                if path.suffix == ".py":
                    files[path] = _ruff_format(ruff, path, content, drop_unused=drop_unused)

    def describe(self) -> list[str]:
        lines = [f"create {self._show(path)}" for path in self.creates]
        lines += [f"change {self._show(path)}" for path, content in self.changes.items() if content != _read(path)]
        return lines

    def diff(self, path: Path) -> str:
        before = _read(path)
        return "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                self.changes[path].splitlines(keepends=True),
                fromfile=self._show(path),
                tofile=self._show(path),
            )
        )

    def apply(self) -> None:
        for path, content in self.creates.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        for path, content in self.changes.items():
            if content != _read(path):
                path.write_text(content)

    def _show(self, path: Path) -> str:
        return str(path.relative_to(self.root))


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _ruff() -> list[str]:
    """The project's ruff, run as `myapp format` and `myapp check` run it."""
    if importlib.util.find_spec("ruff") is None:
        raise PlanError("myapp gen formats what it writes with ruff: install the dev tools (make install)")
    return [sys.executable, "-m", "ruff"]


def _ruff_format(ruff: list[str], path: Path, content: str, *, drop_unused: bool) -> str:
    if not content.strip():
        return content  # an empty package marker
    rules = "I,F401" if drop_unused else "I"
    fixed = _run(ruff, ["check", "--fix-only", "--select", rules, "--stdin-filename", str(path), "-"], content, path)
    return _run(ruff, ["format", "--stdin-filename", str(path), "-"], fixed, path)


def _run(ruff: list[str], args: list[str], content: str, path: Path) -> str:
    # A fixed program and arguments, no shell.
    result = subprocess.run(  # nosec B603
        [*ruff, *args], input=content, capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not result.stdout:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise PlanError(f"ruff could not format {path.name}: {message[0] if message else 'no output'}")
    return result.stdout
