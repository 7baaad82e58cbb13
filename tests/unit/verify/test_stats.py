"""The tests verify judges with, against values computed independently (by enumeration)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from fastapi_ci.verify.stats import (
    binomial_greater,
    fisher_greater,
    mann_whitney_greater,
    percentile,
)


def test_percentile_interpolates_between_order_statistics() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0], 0.99) == pytest.approx(2.98)
    assert math.isnan(percentile([], 0.5))


def permutation_p_value(new: list[int], base: list[int]) -> float:
    """Exact one-sided permutation p-value of the new sample's event count (Fisher's test)."""
    pooled = new + base
    observed = sum(new)
    splits = list(itertools.combinations(range(len(pooled)), len(new)))
    extreme = sum(1 for chosen in splits if sum(pooled[i] for i in chosen) >= observed)
    return extreme / len(splits)


@pytest.mark.parametrize(
    ("new_events", "new_total", "base_events", "base_total"),
    [(3, 6, 0, 6), (2, 5, 1, 7), (0, 4, 2, 6), (5, 5, 1, 5)],
)
def test_fisher_matches_the_exact_permutation_test(
    new_events: int, new_total: int, base_events: int, base_total: int
) -> None:
    new = [1] * new_events + [0] * (new_total - new_events)
    base = [1] * base_events + [0] * (base_total - base_events)

    assert fisher_greater(new_events, new_total, base_events, base_total) == pytest.approx(
        permutation_p_value(new, base)
    )


def test_fisher_sees_five_percent_errors_against_none() -> None:
    assert fisher_greater(20, 400, 0, 400) < 1e-5
    assert fisher_greater(0, 400, 0, 400) == 1.0


def test_binomial_upper_tail_matches_its_sum() -> None:
    expected = sum(math.comb(10, k) * 0.1**k * 0.9 ** (10 - k) for k in range(3, 11))
    assert binomial_greater(3, 10, 0.1) == pytest.approx(expected)
    assert binomial_greater(0, 10, 0.1) == 1.0


def test_mann_whitney_is_small_for_a_shifted_sample_and_uniform_under_no_change() -> None:
    rng = random.Random(7)
    base = [rng.lognormvariate(0, 0.3) for _ in range(200)]
    slower = [rng.lognormvariate(0.3, 0.3) for _ in range(200)]
    assert mann_whitney_greater(slower, base) < 1e-6
    assert mann_whitney_greater(base, slower) > 0.99

    # Under no change, p < 0.05 about 5% of the time: the stated false-alarm rate holds.
    alarms = sum(
        mann_whitney_greater(
            [rng.lognormvariate(0, 0.3) for _ in range(60)],
            [rng.lognormvariate(0, 0.3) for _ in range(60)],
        )
        < 0.05
        for _ in range(400)
    )
    assert 8 <= alarms <= 35


def test_mann_whitney_handles_ties() -> None:
    assert mann_whitney_greater([1.0] * 30, [1.0] * 30) == 1.0
    assert mann_whitney_greater([2.0] * 30, [1.0] * 30) < 1e-6
