"""Coloured, readable output shared by the CLI's commands."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()
error_console = Console(stderr=True)


def info(message: str) -> None:
    console.print(f"[green]✓[/green] {message}")


def warn(message: str) -> None:
    error_console.print(f"[yellow]![/yellow] {message}")


def fail(message: str) -> None:
    # soft_wrap: never break the message at the terminal's width, so it stays one line in logs.
    error_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)


def abort(message: str, code: int = 1) -> NoReturn:
    fail(message)
    raise typer.Exit(code)
