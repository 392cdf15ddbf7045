"""A test whose service is missing skips on a developer's machine and fails under CI=true."""

from __future__ import annotations

import pytest

from tests.support.services import require_service

# Marked three ways, as the suite marks its Redis tests: a test, a parameter, and a present service.
EXAMPLE_TESTS = """
import pytest

from tests.support.services import needs_service

absent = needs_service("Frobnicator", lambda: False, "start it with `frob --serve`")
present = needs_service("Widget", lambda: True, "never shown")


@absent
def test_needs_the_absent_service() -> None:
    pass


@present
def test_needs_a_present_service() -> None:
    pass


@pytest.mark.parametrize("store", ["memory", pytest.param("frob", marks=absent)])
def test_each_store(store: str) -> None:
    pass
"""


@pytest.fixture
def example(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project of the tests above; its pytest loads our plugin, as tests/conftest.py does."""
    pytester.makepyfile(test_example=EXAMPLE_TESTS)
    return pytester


def run(example: pytest.Pytester) -> pytest.RunResult:
    # A pytest session of its own, in this process (a subprocess takes seconds more to start);
    # without pytest-asyncio, which would warn about the example's missing loop-scope settings.
    return example.runpytest_inprocess(
        "-p", "tests.support.services", "-p", "no:cacheprovider", "-p", "no:asyncio", "-rs"
    )


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_missing_service_skips_with_the_hint(
    example: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    result = run(example)

    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*Frobnicator is not available: start it with `frob --serve`*"])


def test_under_ci_a_missing_service_fails_the_test(example: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    result = run(example)

    # Failed while setting up (before any fixture of the test starts): pytest counts an error.
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        ["*Frobnicator is not available: start it with `frob --serve`. With CI=true this fails instead of skipping*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_require_service_called_in_a_test_fails_it_in_ci_with_the_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match=r"^Redis is not available: start it\. With CI=true this fails"):
        require_service("Redis", False, "start it")
