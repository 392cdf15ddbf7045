"""pip-audit over exactly the versions in uv.lock, for `myapp check` (mix hex.audit).

uv exports the lock (every extra and group, no hashes, not the project itself) to a requirements
file; pip-audit checks those pins as they are (`--no-deps --disable-pip`: nothing is resolved or
installed) and writes a JSON report. The outcome is one of:

- clean: no known vulnerability (packages the service does not know are named, not hidden);
- vulnerable: the check fails, listing each package, advisory and the versions that fix it;
- unreachable: the vulnerability service cannot be reached (no network), or knows none of the
  locked versions: nothing was audited, which `myapp check` says in one yellow line;
- error: anything else (uv or pip-audit failing): the check fails with pip-audit's last words.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["clean", "vulnerable", "unreachable", "error"]

# requests' exceptions when no answer came back: the network, not the service, is at fault.
_UNREACHABLE = re.compile(
    r"^(requests\.exceptions\.(ConnectionError|ProxyError|SSLError|ConnectTimeout|ReadTimeout|Timeout)"
    r"|pip_audit\._service\.interface\.ConnectionError)\b",
    re.MULTILINE,
)
_EXPORT_TO = ("--no-emit-project", "--format", "requirements.txt", "--quiet", "--output-file")
# The pins as they are (nothing resolved, nothing installed), reported as JSON.
_AS_PINNED = ("--no-deps", "--disable-pip", "--progress-spinner=off", "--format", "json")
_HOST = re.compile(r"host='([^']+)'")
_CAUSE = re.compile(r"(\[Errno -?\d+\] [^\"')\n]+|timed out|Name or service not known)")


@dataclass(frozen=True)
class Vulnerability:
    package: str
    version: str
    id: str
    fix_versions: tuple[str, ...]

    def __str__(self) -> str:
        fixed = f"fixed in {', '.join(self.fix_versions)}" if self.fix_versions else "no fixed version yet"
        return f"{self.package} {self.version}: {self.id} ({fixed})"


@dataclass(frozen=True)
class AuditResult:
    status: Status
    audited: int = 0
    vulnerabilities: tuple[Vulnerability, ...] = ()
    # "name==version" of the locked packages the service does not know (a private or local index).
    unknown: tuple[str, ...] = field(default=())
    detail: str = ""


def audit_lock(project: Path, *, service_args: Sequence[str] = ()) -> AuditResult:
    """Audit the versions pinned in `project`/uv.lock; `service_args` pick the service (pip-audit's -s, --osv-url).

    Examples:
        audit_lock(Path("."))                                              # PyPI's advisories
        audit_lock(Path("."), service_args=["-s", "osv", "--osv-url", url])  # another OSV endpoint
    """
    if not (project / "uv.lock").is_file():
        return AuditResult("error", detail=f"no uv.lock in {project.resolve()}")
    uv = _uv()
    if uv is None:
        return AuditResult("error", detail="uv is not installed (make install puts it in .venv/bin)")
    with tempfile.TemporaryDirectory(prefix="myapp-audit-") as tmp:
        requirements, report = Path(tmp) / "requirements.txt", Path(tmp) / "report.json"
        export = subprocess.run(
            [uv, "export", "--frozen", "--no-hashes", "--all-extras", "--all-groups", *_EXPORT_TO, str(requirements)],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        if export.returncode != 0:
            return AuditResult("error", detail=f"uv export failed: {_last_line(export.stderr)}")
        run = subprocess.run(
            [sys.executable, "-m", "pip_audit", "-r", str(requirements), *_AS_PINNED, "-o", str(report), *service_args],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        if report.is_file() and report.stat().st_size:
            return parse_report(json.loads(report.read_text()))
        return classify_failure(run.stderr)


def parse_report(report: dict[str, Any]) -> AuditResult:
    """The outcome of pip-audit's JSON report (`--format json`).

    Examples:
        >>> parse_report({"dependencies": [{"name": "jinja2", "version": "3.1.5", "vulns": [
        ...     {"id": "GHSA-cpwx-vrp4-4pq7", "fix_versions": ["3.1.6"]}]}]}).vulnerabilities[0].id
        'GHSA-cpwx-vrp4-4pq7'
        >>> parse_report({"dependencies": [{"name": "x", "skip_reason": "Dependency not found on PyPI"}]}).status
        'unreachable'
    """
    dependencies = report.get("dependencies", [])
    audited = [dependency for dependency in dependencies if "skip_reason" not in dependency]
    skipped = [dependency for dependency in dependencies if "skip_reason" in dependency]
    unknown = tuple(f"{dependency['name']}=={_skipped_version(dependency)}" for dependency in skipped)
    vulnerabilities = tuple(
        Vulnerability(dependency["name"], dependency["version"], vuln["id"], tuple(vuln.get("fix_versions", [])))
        for dependency in audited
        for vuln in dependency.get("vulns", [])
    )
    if vulnerabilities:
        return AuditResult("vulnerable", len(audited), vulnerabilities, unknown)
    if not audited and unknown:
        detail = f"the vulnerability service knows none of the {len(unknown)} locked versions"
        return AuditResult("unreachable", 0, (), unknown, detail=detail)
    return AuditResult("clean", len(audited), (), unknown)


def classify_failure(stderr: str) -> AuditResult:
    """pip-audit stopped without a report: a network failure (unreachable) or anything else (error)."""
    if _UNREACHABLE.search(stderr):
        host = _HOST.search(stderr)
        cause = _CAUSE.search(stderr)
        where = f"{host.group(1)}: " if host else ""
        reason = cause.group(1).strip() if cause else "no answer"
        return AuditResult("unreachable", detail=f"cannot reach the vulnerability service ({where}{reason})")
    return AuditResult("error", detail=f"pip-audit failed: {_last_line(stderr)}")


def _skipped_version(dependency: dict[str, Any]) -> str:
    # Skipped entries carry no version field; pip-audit names it in the reason: "... (1.4.6)".
    match = re.search(r"\(([^()]+)\)\s*$", str(dependency.get("skip_reason", "")))
    return match.group(1) if match else "?"


def _uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.is_file() else shutil.which("uv")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
