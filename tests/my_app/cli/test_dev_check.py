"""`myapp check`'s audit step: pip-audit over exactly the versions in uv.lock (mix hex.audit).

The real uv export and the real pip-audit run over this project's lock, against a fake OSV
service on 127.0.0.1 (pip-audit's `-s osv --osv-url`): no test needs the internet.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import typer

from my_app.cli import dev
from my_app.cli._audit import parse_report
from tests.support.processes import PROJECT_ROOT, free_port, output_lines

VULNERABLE_PACKAGE = "jinja2"  # locked: the templates
ADVISORY = "GHSA-test-0000-0000"
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def osv_answers(answer: Answer) -> type[BaseHTTPRequestHandler]:
    class FakeOsv(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["content-length"])))
            status, body = answer(query)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:  # quiet: no line per request
            pass

    return FakeOsv


@pytest.fixture
def fake_osv() -> Iterator[Callable[[Answer], list[str]]]:
    """Start a fake OSV service answering with `answer(query)`; gives pip-audit's arguments for it."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> list[str]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), osv_answers(answer))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return ["-s", "osv", "--osv-url", f"http://127.0.0.1:{server.server_address[1]}/v1/query"]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)


def one_advisory(query: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    name = query["package"]["name"]
    if name != VULNERABLE_PACKAGE:
        return 200, {}
    affected = {
        "package": {"name": name, "ecosystem": "PyPI"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.1"}]}],
    }
    return 200, {"vulns": [{"id": ADVISORY, "summary": "Sandbox escape", "affected": [affected]}]}


def test_check_audits_the_lock_unless_told_not_to() -> None:
    assert [name for name, _ in dev.check_steps()][-1] == "pip-audit (uv.lock)"
    assert "pip-audit (uv.lock)" not in [name for name, _ in dev.check_steps(audit=False)]


def test_a_locked_package_with_a_known_vulnerability_fails_naming_it_and_the_fixed_version(
    fake_osv: Callable[[Answer], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    passed = dev.audit_dependencies(service_args=fake_osv(one_advisory))

    assert passed is False
    [line] = [line for line in output_lines(capsys.readouterr().err) if ADVISORY in line]
    assert line.startswith(f"error: {VULNERABLE_PACKAGE} ")
    assert line.endswith(f": {ADVISORY} (fixed in 99.1)")


def test_a_lock_without_known_vulnerabilities_passes_saying_how_many_packages_were_audited(
    fake_osv: Callable[[Answer], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    passed = dev.audit_dependencies(service_args=fake_osv(lambda query: (200, {})))

    output = capsys.readouterr()
    assert passed is True
    [line] = output_lines(output.out)
    assert line.startswith("✓ no known vulnerabilities in the ")
    assert line.endswith(" audited packages of uv.lock")
    assert output.err == ""


def test_an_unreachable_vulnerability_service_is_one_yellow_line_and_no_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}/v1/query"

    passed = dev.audit_dependencies(service_args=["-s", "osv", "--osv-url", nothing_listens])

    output = capsys.readouterr()
    assert passed is None  # skipped: `myapp check` does not fail, and names it in its last line
    assert output_lines(output.err) == [
        "! pip-audit skipped: cannot reach the vulnerability service (127.0.0.1: [Errno 111] Connection refused);"
        " nothing was audited"
    ]
    assert "✓" not in output.out


def test_a_failing_vulnerability_service_fails_the_audit(
    fake_osv: Callable[[Answer], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    passed = dev.audit_dependencies(service_args=fake_osv(lambda query: (500, {"error": "boom"})))

    [line] = output_lines(capsys.readouterr().err)
    assert passed is False
    assert line.startswith("error: pip-audit failed: ")


def test_a_service_that_knows_none_of_the_locked_versions_audited_nothing_and_says_so() -> None:
    # What PyPI answers for versions it does not host (a private or local index).
    report = {
        "dependencies": [
            {"name": "fastapi", "skip_reason": "Dependency not found on PyPI and could not be audited: fastapi (0.1)"},
            {"name": "jinja2", "skip_reason": "Dependency not found on PyPI and could not be audited: jinja2 (3.1.6)"},
        ]
    }

    result = parse_report(report)

    assert result.status == "unreachable"
    assert result.unknown == ("fastapi==0.1", "jinja2==3.1.6")
    assert result.detail == "the vulnerability service knows none of the 2 locked versions"


def test_check_names_a_skipped_audit_in_its_last_line_and_still_passes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steps: list[tuple[str, dev.Step]] = [
        ("ruff check", [sys.executable, "-c", "pass"]),
        ("pip-audit (uv.lock)", lambda: None),
    ]
    monkeypatch.setattr(dev, "check_steps", lambda audit: steps)

    dev.check(audit=True)

    assert output_lines(capsys.readouterr().out)[-1] == "✓ all checks passed (skipped: pip-audit (uv.lock))"


def test_check_fails_naming_a_vulnerable_audit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steps: list[tuple[str, dev.Step]] = [
        ("ruff check", [sys.executable, "-c", "pass"]),
        ("pip-audit (uv.lock)", lambda: False),
    ]
    monkeypatch.setattr(dev, "check_steps", lambda audit: steps)

    with pytest.raises(typer.Exit) as exit_:
        dev.check(audit=True)

    assert exit_.value.exit_code == 1
    assert output_lines(capsys.readouterr().err) == ["error: failed: pip-audit (uv.lock)"]
