"""What verify tells its user: the before/after table per endpoint, the verdict, the JSON."""

from __future__ import annotations

import math
from typing import Any

from fastapi_ci.action_io import markdown_cell, report_fields
from fastapi_ci.verify.load import REFERENCE, EndpointSamples
from fastapi_ci.verify.smoke import SmokeReport
from fastapi_ci.verify.stats import percentile
from fastapi_ci.verify.verdict import EndpointVerdict, Verdict, error_rate

ICONS = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️"}


def _ms(samples: EndpointSamples | None, fraction: float) -> str:
    if samples is None or not samples.latencies:
        return "-"
    return f"{percentile(samples.latencies, fraction) * 1000:.0f} ms"


def _rate(samples: EndpointSamples | None) -> str:
    if samples is None or not samples.total:
        return "-"
    return f"{error_rate(samples):.2%} ({samples.errors}/{samples.total})"


def _service(endpoint: EndpointVerdict) -> str:
    figures = endpoint.service
    if figures is None or not figures.total:
        return "-"
    p99 = figures.quantile(0.99)
    p99_text = "" if math.isnan(p99) else f", p99 ≈ {p99 * 1000:.0f} ms"
    return f"{figures.errors}/{figures.total} 5xx{p99_text}"


def endpoint_table(verdict: Verdict) -> str:
    """Markdown: one row per endpoint, before → after."""
    rows = [
        "| endpoint | errors before → after | p50 before → after | p99 before → after "
        "| service (/metrics) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    before, after = verdict.reference
    if after is not None:
        rows.append(
            f"| {REFERENCE} | {_rate(before)} → {_rate(after)} | {_ms(before, 0.5)} → "
            f"{_ms(after, 0.5)} | {_ms(before, 0.99)} → {_ms(after, 0.99)} | - | - |"
        )
    for endpoint in verdict.endpoints:
        base, new = endpoint.base, endpoint.new
        rows.append(
            f"| `{markdown_cell(endpoint.key)}` | {_rate(base)} → {_rate(new)} "
            f"| {_ms(base, 0.5)} → {_ms(new, 0.5)} | {_ms(base, 0.99)} → {_ms(new, 0.99)} "
            f"| {_service(endpoint)} | {ICONS[endpoint.outcome]} {endpoint.outcome} |"
        )
    return "\n".join(rows)


def smoke_table(smoke: SmokeReport) -> str:
    """Markdown: each smoke call, and each operation left out with the reason."""
    rows = ["| operation | result |", "|---|---|"]
    rows += [
        f"| `{markdown_cell(result.key)}` | {'✅' if result.passed else '❌'} "
        f"{markdown_cell(result.detail)} |"
        for result in smoke.results
    ]
    rows += [
        f"| `{markdown_cell(skip.key)}` | not called: {markdown_cell(skip.reason)} |"
        for skip in smoke.skipped
    ]
    return "\n".join(rows)


def samples_json(samples: EndpointSamples | None) -> dict[str, Any] | None:
    """An endpoint's figures for --json (not its raw samples)."""
    if samples is None:
        return None
    return {
        "requests": samples.total,
        "errors": samples.errors,
        "error_rate": None if not samples.total else round(error_rate(samples), 6),
        "p50_ms": None
        if not samples.latencies
        else round(percentile(samples.latencies, 0.5) * 1000, 2),
        "p95_ms": None
        if not samples.latencies
        else round(percentile(samples.latencies, 0.95) * 1000, 2),
        "p99_ms": None
        if not samples.latencies
        else round(percentile(samples.latencies, 0.99) * 1000, 2),
        "statuses": samples.statuses,
    }


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """The verdict for --json and the report file."""
    return {
        "outcome": verdict.outcome,
        "test_alpha": verdict.test_alpha,
        "notes": verdict.notes,
        "reference": {
            "before": samples_json(verdict.reference[0]),
            "after": samples_json(verdict.reference[1]),
        },
        "endpoints": {
            endpoint.key: {
                "outcome": endpoint.outcome,
                "findings": endpoint.findings,
                "p_values": endpoint.p_values,
                "before": samples_json(endpoint.base),
                "after": samples_json(endpoint.new),
                "service": None
                if endpoint.service is None
                else {"requests": endpoint.service.total, "errors": endpoint.service.errors},
            }
            for endpoint in verdict.endpoints
        },
    }


def smoke_json(smoke: SmokeReport) -> dict[str, Any]:
    """The smoke calls for --json."""
    operation = {"key": "operation"}
    return {
        "results": [
            report_fields(result, rename=operation, leave_out=("seconds",))
            for result in smoke.results
        ],
        "skipped": [report_fields(skip, rename=operation) for skip in smoke.skipped],
    }
