"""The application's process-wide tuning: the garbage collector's young-generation threshold."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from my_app import application
from my_app.config import Settings


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The thresholds before the test, restored after it."""
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_gc_threshold_sets_the_young_generation_and_keeps_the_older_ones(thresholds: tuple[int, int, int]) -> None:
    application.tune_garbage_collector(Settings(_env_file=None, gc_threshold=12_345))  # type: ignore[call-arg]
    assert gc.get_threshold() == (12_345, thresholds[1], thresholds[2])


def test_gc_threshold_zero_leaves_the_collector_alone(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, thresholds[1], thresholds[2])
    application.tune_garbage_collector(Settings(_env_file=None, gc_threshold=0))  # type: ignore[call-arg]
    assert gc.get_threshold() == (700, thresholds[1], thresholds[2])


def test_the_default_is_50000() -> None:
    assert Settings(_env_file=None).gc_threshold == 50_000  # type: ignore[call-arg]
