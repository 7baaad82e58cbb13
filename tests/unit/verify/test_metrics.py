"""/metrics read twice: the difference per endpoint, 5xx and the histogram's quantile."""

from __future__ import annotations

import math

import pytest

from fastapi_ci.verify.metrics import ServiceFigures, deltas, parse

BEFORE = """\
# HELP http_requests_total HTTP requests answered.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/api/v1/items",status="200"} 10.0
http_requests_total{method="GET",route="/api/v1/items/{item_id}",status="404"} 2.0
http_request_duration_seconds_bucket{le="0.1",method="GET",route="/api/v1/items"} 10.0
http_request_duration_seconds_bucket{le="1.0",method="GET",route="/api/v1/items"} 10.0
http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/v1/items"} 10.0
"""
AFTER = """\
http_requests_total{method="GET",route="/api/v1/items",status="200"} 100.0
http_requests_total{method="GET",route="/api/v1/items",status="500"} 5.0
http_requests_total{method="GET",route="/api/v1/items/{item_id}",status="404"} 2.0
http_requests_total{method="GET",route="/a \\"quoted\\" path",status="200"} 1.0
http_request_duration_seconds_bucket{le="0.1",method="GET",route="/api/v1/items"} 90.0
http_request_duration_seconds_bucket{le="1.0",method="GET",route="/api/v1/items"} 110.0
http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/v1/items"} 115.0
"""


def test_deltas_count_requests_and_5xx_per_route_template() -> None:
    figures = deltas(parse(BEFORE), parse(AFTER))

    listing = figures["GET /api/v1/items"]
    assert (listing.total, listing.errors) == (95, 5)
    assert figures["GET /api/v1/items/{item_id}"].total == 0
    assert figures['GET /a "quoted" path'].total == 1


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    listing = deltas(parse(BEFORE), parse(AFTER))["GET /api/v1/items"]

    # 105 new answers: 80 under 0.1 s, 20 between 0.1 and 1 s, 5 above.
    assert listing.quantile(0.5) == pytest.approx(0.1 * 52.5 / 80)
    assert listing.quantile(0.9) == pytest.approx(0.1 + 0.9 * (94.5 - 80) / 20)
    assert listing.quantile(0.99) == 1.0  # in the +Inf bucket: its lower bound
    assert math.isnan(ServiceFigures().quantile(0.5))
