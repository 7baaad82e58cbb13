"""RED metrics at /metrics: by route template and status, with a latency histogram."""

import contextlib

from fastapi import FastAPI
from httpx import AsyncClient
from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics answer, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


async def test_requests_are_counted_by_route_template_and_status(client: AsyncClient) -> None:
    created = await client.post("/api/v1/items", json={"name": "a", "price": "1.50"})
    item_id = created.json()["id"]
    await client.get(f"/api/v1/items/{item_id}")
    await client.get("/api/v1/items/999999")
    await client.get("/api/v1/items/999998")
    await client.get("/no/such/path")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    seen = samples(response.text)
    template = "/api/v1/items/{item_id}"
    assert seen["http_requests_total", labels(method="GET", route=template, status="200")] == 1
    assert seen["http_requests_total", labels(method="GET", route=template, status="404")] == 2
    assert seen["http_requests_total", labels(method="POST", route="/api/v1/items", status="201")]
    # Unknown paths share one label value: a scanner cannot grow the label set.
    assert seen["http_requests_total", labels(method="GET", route="<unmatched>", status="404")] == 1
    assert not any(dict(key[1]).get("route") == "/metrics" for key in seen)


async def test_latency_histogram_counts_every_request_in_its_buckets(client: AsyncClient) -> None:
    for _ in range(3):
        await client.get("/health/live")

    seen = samples((await client.get("/metrics")).text)

    route = labels(method="GET", route="/health/live")
    assert seen["http_request_duration_seconds_count", route] == 3
    assert seen["http_request_duration_seconds_bucket", route | labels(le="+Inf")] == 3
    assert 0 < seen["http_request_duration_seconds_sum", route] < 3


async def test_an_unhandled_error_is_counted_as_500(app: FastAPI, client: AsyncClient) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    # The in-process transport re-raises what the server would answer with a 500.
    with contextlib.suppress(RuntimeError):
        await client.get("/boom")

    seen = samples((await client.get("/metrics")).text)
    assert seen["http_requests_total", labels(method="GET", route="/boom", status="500")] == 1


def test_metrics_are_not_in_the_openapi_document(app: FastAPI) -> None:
    assert "/metrics" not in app.openapi()["paths"]
