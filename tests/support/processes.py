"""Running the app's programs from tests: the `myapp` CLI, servers on free ports, bounded waits."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MYAPP = Path(sys.executable).parent / "myapp"
EMBEDDED_URL_VARIABLE = "MYAPP_EMBEDDED_POSTGRES_URL"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment for a child, with `overrides` applied (None removes a variable).

    The terminal is wide and colourless, so a line of output is a line of the program's text.
    """
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def myapp(
    *args: str, env: Mapping[str, str | None] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed `myapp` command to completion and capture its output."""
    return subprocess.run(
        [str(MYAPP), *args],
        cwd=PROJECT_ROOT,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def plain(text: str) -> str:
    """`text` without terminal escape codes."""
    return _ANSI.sub("", text)


def output_lines(text: str) -> list[str]:
    """The non-blank lines of a program's output."""
    return [line for line in plain(text).splitlines() if line.strip()]


def wait_until(condition: Callable[[], bool], *, timeout: float, message: str, interval: float = 0.1) -> None:
    """Poll `condition` until it holds; fail the test with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {message}")
        time.sleep(interval)


def answers(url: str, *, host: str | None = None) -> bool:
    """True when `url` answers 200 (asked with `Host: host` when given); False when nothing accepts
    the connection or it does not answer within 2 s."""
    try:
        return httpx.get(url, headers={"Host": host} if host else None, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def stop(process: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Make sure `process` is gone and its pipes closed: terminate, then kill after `timeout`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def copy_repository_files(target: Path) -> None:
    """Copy the repository's files (tracked, and untracked but not ignored) into `target`: a checkout
    a test may change or build from, as it is in the working tree (uncommitted changes included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
