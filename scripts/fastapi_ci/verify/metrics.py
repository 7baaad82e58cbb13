"""The service's own view: `/metrics` (Prometheus text format) read before and after a window.

The service counts every request it answered, the tool's and real users' alike. The
difference of two scrapes gives, per endpoint, requests, 5xx answers and a latency
histogram, under the conventional RED names (what example-service and most Prometheus
middlewares export):

    http_requests_total{method, route, status}
    http_request_duration_seconds_bucket{method, route, le}

`route` must be the OpenAPI path template. A service without these (or without /metrics)
is judged on the tool's own samples only.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

REQUESTS = "http_requests_total"
BUCKETS = "http_request_duration_seconds_bucket"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Scrape:
    """The samples of an exposition, keyed by name and label set."""
    samples: Scrape = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        name, labels, value = match.groups()
        pairs = frozenset(
            (key, raw.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
            for key, raw in _LABEL.findall(labels or "")
        )
        try:
            samples[name, pairs] = float(value)
        except ValueError:
            continue
    return samples


def scrape(client: httpx.Client, path: str) -> Scrape | None:
    """One scrape; None when the service has no metrics there."""
    import httpx

    try:
        response = client.get(path, timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    samples = parse(response.text)
    return samples if any(name == REQUESTS for name, _ in samples) else None


@dataclass
class ServiceFigures:
    """One endpoint as the service counted it during the window."""

    total: int = 0
    errors: int = 0
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count

    def quantile(self, fraction: float) -> float:
        """Seconds, interpolated inside the histogram bucket (Prometheus' histogram_quantile)."""
        bounds = sorted(self.buckets)
        if not bounds or self.buckets[bounds[-1]] <= 0:
            return math.nan
        rank = fraction * self.buckets[bounds[-1]]
        lower_bound, lower_count = 0.0, 0.0
        for bound in bounds:
            count = self.buckets[bound]
            if count >= rank:
                if math.isinf(bound):
                    return lower_bound
                width = count - lower_count
                share = (rank - lower_count) / width if width else 0.0
                return lower_bound + (bound - lower_bound) * share
            lower_bound, lower_count = bound, count
        return lower_bound


def deltas(before: Scrape, after: Scrape) -> dict[str, ServiceFigures]:
    """Per endpoint (`GET /template`), what happened between two scrapes."""
    figures: dict[str, ServiceFigures] = defaultdict(ServiceFigures)
    for (name, labels), value in after.items():
        if name not in (REQUESTS, BUCKETS):
            continue
        label = dict(labels)
        key = f"{label.get('method', '?')} {label.get('route', '?')}"
        change = value - before.get((name, labels), 0.0)
        if name == REQUESTS:
            figures[key].total += round(change)
            if label.get("status", "").startswith("5"):
                figures[key].errors += round(change)
        else:
            bound = float(label.get("le", "+Inf"))
            figures[key].buckets[bound] = figures[key].buckets.get(bound, 0.0) + change
    return dict(figures)
