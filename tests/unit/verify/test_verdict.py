"""The verdict on a window: ceilings, comparison with the baseline, inconclusive."""

from __future__ import annotations

import random

from fastapi_ci.verify.load import REFERENCE, EndpointSamples
from fastapi_ci.verify.metrics import ServiceFigures
from fastapi_ci.verify.verdict import Thresholds, judge, look_alpha

KEY = "GET /api/v1/items"


def window(
    seed: int,
    n: int = 400,
    median: float = 0.01,
    errors: int = 0,
    slow: int = 0,
    stalls: tuple[tuple[float, float], ...] = (),
    seconds: float = 60.0,
) -> EndpointSamples:
    """n answers sent evenly over `seconds`, lognormal latencies; `slow` of them (evenly spread)
    2 s, `errors` of them 500, and those sent during a `stalls` (start, end) 0.3-0.9 s."""
    rng = random.Random(seed)
    samples = EndpointSamples()
    for index in range(n):
        sent = index * seconds / n
        latency = rng.lognormvariate(0, 0.4) * median
        if slow and index % (n // slow) == 0:
            latency = 2.0
        if any(start <= sent < end for start, end in stalls):
            latency = rng.uniform(0.3, 0.9)
        failed = n - index <= errors
        samples.record("500" if failed else "200", latency, failed, sent)
    return samples


def verdict_of(new: EndpointSamples, base: EndpointSamples | None, **limits: float) -> str:
    baseline = None if base is None else {KEY: base}
    return judge({KEY: new}, baseline, None, Thresholds(**limits), 0.01).outcome  # type: ignore[arg-type]


def test_the_same_distribution_passes() -> None:
    assert verdict_of(window(1), window(2)) == "pass"


def test_five_percent_errors_fail_against_the_baseline_and_the_ceiling() -> None:
    result = judge({KEY: window(1, errors=20)}, {KEY: window(2)}, None, Thresholds(), 0.01)

    assert result.outcome == "fail"
    failed = {finding.rsplit(", ", 1)[-1].rstrip(")") for finding in result.endpoints[0].findings}
    assert failed == {"error-ceiling", "errors-vs-baseline"}


def test_a_slow_tail_fails_though_the_median_is_unchanged() -> None:
    result = judge({KEY: window(1, slow=20)}, {KEY: window(2)}, None, Thresholds(), 0.01)

    assert result.outcome == "fail"
    assert any("tail-vs-baseline" in finding for finding in result.findings)
    assert not any("shift-vs-baseline" in finding for finding in result.findings)


def test_a_slower_whole_distribution_fails_the_shift_test() -> None:
    result = judge(
        {KEY: window(1, median=0.2)}, {KEY: window(2, median=0.05)}, None, Thresholds(), 0.01
    )

    assert any("shift-vs-baseline" in finding for finding in result.findings)


def test_a_stall_of_a_few_seconds_is_not_a_slower_version() -> None:
    # Seen on a loaded runner: every request to the database-backed endpoints of a fresh
    # container 0.3-0.9 s slow for a few seconds at a time, against a calm baseline.
    stalled = window(1, stalls=((3, 6), (21, 24), (40, 42)))

    assert verdict_of(stalled, window(2)) == "pass"


def test_a_tail_that_stays_slow_in_most_slices_fails_though_a_stall_does_not() -> None:
    # The same 0.3-0.9 s, all the time: above the 500 ms tail floor in every slice.
    slow_everywhere = window(1, stalls=tuple((s, s + 0.5) for s in range(0, 60, 2)))

    result = judge({KEY: slow_everywhere}, {KEY: window(2)}, None, Thresholds(), 0.01)

    assert any("tail-vs-baseline" in finding for finding in result.findings)
    assert "slices of 5s" in result.findings[0]


def test_a_p99_under_the_tail_floor_passes() -> None:
    # The false alarm of the first measurement: p99 61 ms → 391 ms on a busy runner.
    assert verdict_of(window(1, slow=0, median=0.02, stalls=((10, 12),)), window(2)) == "pass"


def test_a_slowdown_under_the_floor_passes() -> None:
    # 4 ms → 8 ms is significant, and harmless: below the 100 ms floor.
    assert verdict_of(window(1, median=0.008), window(2, median=0.004)) == "pass"


def test_too_few_answers_are_inconclusive_not_a_pass() -> None:
    assert verdict_of(window(1, n=30), window(2, n=30)) == "inconclusive"


def test_errors_in_a_thin_window_still_fail_the_ceiling() -> None:
    assert verdict_of(window(1, n=30, errors=10), window(2, n=30)) == "fail"


def test_without_a_baseline_only_ceilings_judge() -> None:
    result = judge({KEY: window(1, median=0.5)}, None, None, Thresholds(), 0.01)

    assert result.outcome == "pass"
    assert "no baseline" in result.notes[0]
    assert verdict_of(window(1, median=0.5), None, max_p99=0.2) == "fail"


def test_the_services_own_5xx_count_fails_the_ceiling() -> None:
    service = {KEY: ServiceFigures(total=400, errors=30)}

    result = judge({KEY: window(1)}, {KEY: window(2)}, service, Thresholds(), 0.01)

    assert any("service-error-ceiling" in finding for finding in result.findings)


def test_the_budget_is_split_so_every_look_together_stays_within_alpha() -> None:
    looks = 4
    total = look_alpha(0.01, looks, final=True) + (looks - 1) * look_alpha(0.01, looks, final=False)
    assert abs(total - 0.01) < 1e-12
    assert look_alpha(0.01, 1, final=True) == 0.01


def test_healthy_windows_rarely_fail() -> None:
    # 200 comparisons of two windows of one distribution: with alpha 0.01 the chance of even
    # one failure among them is small; the Bonferroni split makes each far less likely.
    failures = sum(verdict_of(window(seed), window(seed + 1000)) == "fail" for seed in range(200))
    assert failures <= 2


def test_a_slowdown_while_the_runner_itself_was_busier_is_inconclusive_not_a_failure() -> None:
    # The runner's reference server answered 20x slower: the machine, not the version.
    samples = {KEY: window(1, median=0.4), REFERENCE: window(3, median=0.001)}
    busy = {KEY: window(2, median=0.05), REFERENCE: window(4, median=0.0005)}
    calm = {KEY: window(2, median=0.05), REFERENCE: window(4, median=0.001)}
    slowed_by_the_machine = {**samples, REFERENCE: window(5, median=0.02)}

    assert judge(samples, calm, None, Thresholds(), 0.01).outcome == "fail"
    result = judge(slowed_by_the_machine, busy, None, Thresholds(), 0.01)
    assert result.outcome == "inconclusive"
    assert "runner itself was busier" in result.notes[0]
    assert all(endpoint.key != REFERENCE for endpoint in result.endpoints)


def test_errors_fail_even_when_the_runner_was_busier() -> None:
    samples = {KEY: window(1, errors=40), REFERENCE: window(5, median=0.02)}
    baseline = {KEY: window(2), REFERENCE: window(4, median=0.0005)}

    assert judge(samples, baseline, None, Thresholds(), 0.01).outcome == "fail"


def test_an_early_look_fails_on_errors_but_leaves_latency_to_the_whole_window() -> None:
    slow, failing, calm = window(1, slow=20), window(1, errors=20), {KEY: window(2)}

    assert judge({KEY: slow}, calm, None, Thresholds(), 0.01, latency=False).outcome == "pass"
    assert judge({KEY: slow}, calm, None, Thresholds(), 0.01).outcome == "fail"
    assert judge({KEY: failing}, calm, None, Thresholds(), 0.01, latency=False).outcome == "fail"
