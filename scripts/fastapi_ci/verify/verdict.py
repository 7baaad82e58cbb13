"""Judge a bake window: per endpoint, against absolute ceilings and against the baseline.

Per endpoint, up to six tests, each a one-sided test of "the new version is worse":

1. error ceiling       exact binomial: is the error rate above `max_error_rate`?
2. service errors      the same on the service's own counts (/metrics), when it has them;
3. p99 ceiling         exact binomial: are more than 1% of requests slower than `max_p99`?
4. errors vs baseline  Fisher's exact test on (errors, requests), new vs baseline;
5. tail vs baseline    Fisher's exact test on the requests slower than
                       T = max(tail floor, factor x baseline p99), new vs baseline, and the new
                       p99 above T (a tail that grew, as well as a whole distribution);
6. shift vs baseline   Mann-Whitney U on all latencies, and the new median above
                       max(floor, factor x baseline median).

A latency test (3, 5, 6) is judged on the whole window only (an early look judges errors),
and fails only when the slowdown is sustained: in at least
`SUSTAINED_SHARE` of the window's `SLICE_SECONDS` slices (and `MIN_SLICES` of them), the slice
is worse by the same measure (more than 1% of its answers above the threshold; its median
above the shift threshold). A version that is slower is slower all the time; a busy machine
or a shared database stalls for a few seconds, and every request caught in a stall is slow
together, so those requests are not the independent samples the tests assume. Measured on a
loaded 2-core runner: stalls of 0.3-1 s on every database-backed endpoint at once, in up to
half of the 2-second slices of a window, the first seconds of a fresh container slow, and
once every database endpoint's median 10x slower for 15 s while another job loaded the
machine. Errors are not like that: a 500 is the version's (the readiness probe, whose 503 is
the database's, is not loaded), so errors can fail a look early.

The false-alarm budget `alpha` is shared by every test of every endpoint at every look
(Bonferroni: each test runs at alpha / (looks' share x endpoints x 6)), so when nothing
changed, and the samples are independent, the chance of any rollback is at most `alpha`.
The factors, floors and the sustained rule keep a statistically significant but harmless
change (1 ms slower, a stall) from failing a deploy.
An endpoint with fewer than `min_samples` answers in either sample is "inconclusive" for
the comparisons (its ceilings are still judged).

When the runner's own reference server (`fastapi_ci.verify.load.REFERENCE`) answered much
more slowly than during the baseline (Mann-Whitney p < 0.001, and its p50 above
max(2 ms, 2 x before)), the machine was busier: a latency finding cannot be blamed on the new
version, and the endpoint is "inconclusive" instead of failed. Errors still fail. This can
only turn a failure into "inconclusive", never a pass into a failure: it costs no alpha.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from fastapi_ci.verify.load import REFERENCE, EndpointSamples, Samples
from fastapi_ci.verify.metrics import ServiceFigures
from fastapi_ci.verify.stats import (
    binomial_greater,
    fisher_greater,
    mann_whitney_greater,
    percentile,
)

Outcome = Literal["pass", "fail", "inconclusive"]
TESTS_PER_ENDPOINT = 6
# A p99 ceiling is broken when significantly more than this share of requests exceed it.
TAIL_SHARE = 0.01
LATENCY_TESTS = frozenset({"p99-ceiling", "tail-vs-baseline", "shift-vs-baseline"})
# A latency finding must hold in this share of the window's slices of this many seconds.
SLICE_SECONDS, SUSTAINED_SHARE, MIN_SLICES = 5.0, 0.75, 3
# The runner was busier when its reference server answered this much slower (and surely so).
BUSIER_FACTOR, BUSIER_FLOOR, BUSIER_P = 2.0, 0.002, 0.001


@dataclass(frozen=True)
class Thresholds:
    """The limits a new version is held to (seconds for times)."""

    alpha: float = 0.01
    max_error_rate: float = 0.01
    max_p99: float | None = None
    latency_factor: float = 1.5
    latency_floor: float = 0.1  # for the median
    tail_floor: float = 0.5  # for the p99: above the stalls of a busy runner (see the top)
    min_samples: int = 50


@dataclass
class EndpointVerdict:
    """One endpoint's figures and what the tests found."""

    key: str
    new: EndpointSamples
    base: EndpointSamples | None
    service: ServiceFigures | None
    outcome: Outcome = "pass"
    findings: list[str] = field(default_factory=list)
    p_values: dict[str, float] = field(default_factory=dict)
    failed_tests: set[str] = field(default_factory=set)

    def fail(self, test: str, p_value: float, message: str) -> None:
        """Record a failed test."""
        self.outcome = "fail"
        self.failed_tests.add(test)
        self.findings.append(f"{message} (p={p_value:.2g}, {test})")


@dataclass
class Verdict:
    """The window's verdict and every endpoint's."""

    outcome: Outcome
    endpoints: list[EndpointVerdict]
    test_alpha: float
    notes: list[str] = field(default_factory=list)
    reference: tuple[EndpointSamples | None, EndpointSamples | None] = (None, None)

    @property
    def findings(self) -> list[str]:
        """Every failed test, `GET /path: what`."""
        return [f"{e.key}: {finding}" for e in self.endpoints for finding in e.findings]


def look_alpha(alpha: float, looks: int, final: bool) -> float:
    """A look's share of the budget: half for the last look, half split over the early ones."""
    if looks <= 1:
        return alpha
    return alpha / 2 if final else alpha / 2 / (looks - 1)


def error_rate(samples: EndpointSamples) -> float:
    """Errors per request (NaN without requests)."""
    return samples.errors / samples.total if samples.total else math.nan


def slices(samples: EndpointSamples) -> list[list[float]]:
    """The latencies grouped by the `SLICE_SECONDS` slice of the window they were sent in."""
    by_slice: dict[int, list[float]] = {}
    for latency, sent in zip(samples.latencies, samples.sent, strict=True):
        by_slice.setdefault(int(sent // SLICE_SECONDS), []).append(latency)
    return [by_slice[index] for index in sorted(by_slice)]


@dataclass(frozen=True)
class Persistence:
    """In how many of the window's slices a slowdown showed."""

    worse: int
    slices: int

    @property
    def sustained(self) -> bool:
        """Enough slices, and slow in enough of them, to be the version and not a stall."""
        return self.slices >= MIN_SLICES and self.worse >= SUSTAINED_SHARE * self.slices

    def __str__(self) -> str:
        return f"in {self.worse}/{self.slices} slices of {SLICE_SECONDS:g}s"


def persistence(samples: EndpointSamples, worse: Callable[[list[float]], bool]) -> Persistence:
    """How many slices of `samples` are `worse`."""
    parts = slices(samples)
    return Persistence(sum(1 for part in parts if worse(part)), len(parts))


def tail_above(threshold: float) -> Callable[[list[float]], bool]:
    """Whether more than `TAIL_SHARE` of a slice's answers are slower than `threshold`."""
    return lambda part: sum(1 for value in part if value > threshold) > TAIL_SHARE * len(part)


def _judge_endpoint(
    verdict: EndpointVerdict, limits: Thresholds, test_alpha: float, latency: bool
) -> None:
    new, base = verdict.new, verdict.base

    def check(test: str, p_value: float, message: str, practical: bool = True) -> None:
        verdict.p_values[test] = p_value
        if p_value < test_alpha and practical:
            verdict.fail(test, p_value, message)

    check(
        "error-ceiling",
        binomial_greater(new.errors, new.total, limits.max_error_rate),
        f"{new.errors}/{new.total} errors, above the {limits.max_error_rate:.2%} ceiling",
    )
    if verdict.service is not None and verdict.service.total:
        service = verdict.service
        check(
            "service-error-ceiling",
            binomial_greater(service.errors, service.total, limits.max_error_rate),
            f"the service counted {service.errors}/{service.total} 5xx, above the "
            f"{limits.max_error_rate:.2%} ceiling",
        )
    if latency and limits.max_p99 is not None and new.latencies:
        slow = sum(1 for value in new.latencies if value > limits.max_p99)
        above = persistence(new, tail_above(limits.max_p99))
        check(
            "p99-ceiling",
            binomial_greater(slow, len(new.latencies), TAIL_SHARE),
            f"{slow}/{len(new.latencies)} requests slower than the "
            f"{limits.max_p99 * 1000:g} ms p99 ceiling, {above}",
            practical=above.sustained,
        )
    if base is None:
        return
    if min(len(new.latencies), len(base.latencies)) < limits.min_samples:
        if verdict.outcome != "fail":
            verdict.outcome = "inconclusive"
        verdict.findings.append(
            f"too few answers to compare ({len(base.latencies)} before, "
            f"{len(new.latencies)} after; {limits.min_samples} needed)"
        )
        return
    check(
        "errors-vs-baseline",
        fisher_greater(new.errors, new.total, base.errors, base.total),
        f"error rate {error_rate(base):.2%} → {error_rate(new):.2%}",
    )
    if not latency:
        return
    base_p99 = percentile(base.latencies, 0.99)
    tail = max(limits.tail_floor, limits.latency_factor * base_p99)
    new_p99 = percentile(new.latencies, 0.99)
    tail_slices = persistence(new, tail_above(tail))
    check(
        "tail-vs-baseline",
        fisher_greater(
            sum(1 for value in new.latencies if value > tail),
            len(new.latencies),
            sum(1 for value in base.latencies if value > tail),
            len(base.latencies),
        ),
        f"p99 {base_p99 * 1000:.0f} ms → {new_p99 * 1000:.0f} ms, above "
        f"{tail * 1000:.0f} ms (max(tail floor, {limits.latency_factor:g} x baseline)) "
        f"{tail_slices}",
        practical=new_p99 > tail and tail_slices.sustained,
    )
    base_p50 = percentile(base.latencies, 0.5)
    new_p50 = percentile(new.latencies, 0.5)
    shift = max(limits.latency_floor, limits.latency_factor * base_p50)
    shift_slices = persistence(new, lambda part: percentile(part, 0.5) > shift)
    check(
        "shift-vs-baseline",
        mann_whitney_greater(new.latencies, base.latencies),
        f"p50 {base_p50 * 1000:.0f} ms → {new_p50 * 1000:.0f} ms, above {shift * 1000:.0f} ms "
        f"{shift_slices}",
        practical=new_p50 > shift and shift_slices.sustained,
    )


def judge(
    samples: Samples,
    baseline: Samples | None,
    service: dict[str, ServiceFigures] | None,
    limits: Thresholds,
    look_budget: float,
    *,
    latency: bool = True,
) -> Verdict:
    """The verdict on one look at the window, `look_budget` its share of alpha.

    `latency`: judge the latency tests too (the whole window), not only errors (an early look).
    """
    reference = (baseline or {}).get(REFERENCE), samples.get(REFERENCE)
    keys = sorted(key for key in samples if key != REFERENCE)
    test_alpha = look_budget / max(1, len(keys) * TESTS_PER_ENDPOINT)
    endpoints = [
        EndpointVerdict(
            key=key,
            new=samples[key],
            base=baseline.get(key) if baseline is not None else None,
            service=(service or {}).get(key),
        )
        for key in keys
    ]
    notes: list[str] = []
    for endpoint in endpoints:
        if endpoint.new.total == 0:
            endpoint.outcome = "inconclusive"
            endpoint.findings.append("no request was answered in the window")
            continue
        if baseline is not None and endpoint.base is None:
            notes.append(f"{endpoint.key} is not in the baseline: judged on ceilings only")
        _judge_endpoint(endpoint, limits, test_alpha, latency)
    if baseline is None:
        notes.append("no baseline: judged on the absolute ceilings only")
    busier = runner_busier(*reference)
    if busier:
        notes.append(busier)
        for endpoint in endpoints:
            if endpoint.failed_tests and endpoint.failed_tests <= LATENCY_TESTS:
                endpoint.outcome = "inconclusive"
                endpoint.findings.append("latency not judged: " + busier)
    outcomes = {endpoint.outcome for endpoint in endpoints}
    outcome: Outcome = (
        "fail" if "fail" in outcomes else "inconclusive" if "inconclusive" in outcomes else "pass"
    )
    return Verdict(outcome, endpoints, test_alpha, notes, reference)


def runner_busier(before: EndpointSamples | None, after: EndpointSamples | None) -> str | None:
    """Why the runner's own reference server says the machine was busier, or None."""
    if before is None or after is None or not before.latencies or not after.latencies:
        return None
    p50_before = percentile(before.latencies, 0.5)
    p50_after = percentile(after.latencies, 0.5)
    if p50_after <= max(BUSIER_FLOOR, BUSIER_FACTOR * p50_before):
        return None
    if mann_whitney_greater(after.latencies, before.latencies) >= BUSIER_P:
        return None
    return (
        f"the runner itself was busier (its reference server's p50 "
        f"{p50_before * 1000:.1f} ms → {p50_after * 1000:.1f} ms)"
    )
