"""The statistics verify judges with: percentiles and three exact or well-approximated tests.

* `fisher_greater`: Fisher's exact test, one-sided, on a 2x2 table of counts: is the new
  version's rate of an event (an error, a request slower than a threshold) higher than the
  baseline's? Exact, so it holds for small counts and zero cells.
* `binomial_greater`: the exact binomial upper tail: is a rate higher than a fixed ceiling?
* `mann_whitney_greater`: Mann-Whitney U, one-sided, normal approximation with the tie
  correction: are the new latencies stochastically larger than the baseline's?

Every p-value is the probability, when nothing changed, of a result at least this extreme:
a test at level alpha raises a false alarm at most alpha of the time (samples independent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0..1) by linear interpolation between order statistics."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_greater(new_events: int, new_total: int, base_events: int, base_total: int) -> float:
    """P-value that the new rate of events exceeds the baseline's (Fisher, one-sided).

    With the margins fixed, the new sample's event count is hypergeometric; the p-value is
    the probability of `new_events` or more.
    """
    events = new_events + base_events
    total = new_total + base_total
    if new_total == 0 or events == 0:
        return 1.0
    denominator = _log_comb(total, new_total)
    top = min(events, new_total)
    terms = [
        _log_comb(events, k) + _log_comb(total - events, new_total - k) - denominator
        for k in range(new_events, top + 1)
        if new_total - k <= total - events
    ]
    return min(1.0, math.fsum(math.exp(term) for term in terms))


def binomial_greater(events: int, total: int, ceiling: float) -> float:
    """P-value that the true rate exceeds `ceiling`: P(X >= events) for X ~ Bin(total, ceiling)."""
    if events == 0 or total == 0:
        return 1.0
    if ceiling <= 0:
        return 0.0
    if ceiling >= 1:
        return 1.0
    log_p, log_q = math.log(ceiling), math.log1p(-ceiling)
    return min(
        1.0,
        math.fsum(
            math.exp(_log_comb(total, k) + k * log_p + (total - k) * log_q)
            for k in range(events, total + 1)
        ),
    )


def mann_whitney_greater(new: Sequence[float], base: Sequence[float]) -> float:
    """P-value that `new` is stochastically larger than `base` (Mann-Whitney U, one-sided).

    Normal approximation with the tie correction and a continuity correction; sound from
    about 20 values per sample, which verify requires before it compares at all.
    """
    n1, n2 = len(new), len(base)
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = sorted([(value, 0) for value in new] + [(value, 1) for value in base])
    ranks = [0.0] * len(pooled)
    tie_term = 0.0
    start = 0
    while start < len(pooled):
        end = start
        while end + 1 < len(pooled) and pooled[end + 1][0] == pooled[start][0]:
            end += 1
        shared_rank = (start + end) / 2 + 1
        for index in range(start, end + 1):
            ranks[index] = shared_rank
        tied = end - start + 1
        tie_term += tied**3 - tied
        start = end + 1
    rank_sum_new = math.fsum(
        rank for rank, (_, group) in zip(ranks, pooled, strict=True) if group == 0
    )
    u_new = rank_sum_new - n1 * (n1 + 1) / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (u_new - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))
