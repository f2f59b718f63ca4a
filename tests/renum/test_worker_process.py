"""What `renum worker` sets up in its process before driving: its garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from renum.engine.worker import GC_YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The test process's thresholds, given back afterwards."""
    before = gc.get_threshold()
    try:
        yield before
    finally:
        gc.set_threshold(*before)


def test_the_young_generation_is_collected_less_often(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 10, 10)  # CPython's own
    tune_gc()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
    assert GC_YOUNG_THRESHOLD > 700


def test_the_older_generations_keep_their_thresholds(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 7, 3)
    tune_gc()
    assert gc.get_threshold()[1:] == (7, 3)
