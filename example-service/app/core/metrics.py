"""RED metrics (rate, errors, duration) at ``/metrics`` in the Prometheus text format.

Requests are counted by method, route template (``/api/v1/items/{item_id}``, never the raw
path, so the label set stays bounded) and status, and timed in a histogram. ``/metrics``
itself is not an API operation: it is left out of the OpenAPI document and of its own counts.

Each process keeps its own registry: run one worker per replica (``WEB_CONCURRENCY=1``), or
use prometheus-client's multiprocess mode, for a scrape to see every request.
"""

import re
import time
from collections.abc import Callable, Iterable

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "<unmatched>"  # 404s of any path share one label value
# Seconds; fine below 100 ms where an API answers, coarse above where a regression lands.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class RedMetrics:
    """The request counter and latency histogram of one application."""

    def __init__(self) -> None:
        """Register both metrics in a registry of this application's own."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from the request to the end of the response, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class RouteTemplates:
    """Map a request path to its OpenAPI path template (``/api/v1/items/{item_id}``).

    Matched against the application's own OpenAPI document, read at the first request, so
    the labels are exactly the paths a client (or fastapi-ci verify) knows, whatever the
    router's internals. Literal paths win over templated ones, as in the router.
    """

    def __init__(self, paths: Callable[[], Iterable[str]]) -> None:
        """``paths`` gives the OpenAPI document's path templates when first needed."""
        self._paths = paths
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def match(self, path: str) -> str:
        """The template ``path`` falls under, or ``UNMATCHED_ROUTE``."""
        if self._compiled is None:
            templates = sorted(self._paths(), key=lambda template: (template.count("{"), template))
            self._compiled = [(compile_path(template)[0], template) for template in templates]
        for pattern, template in self._compiled:
            if pattern.match(path):
                return template
        return UNMATCHED_ROUTE


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the root path a proxy mounts the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class MetricsMiddleware:
    """Time every HTTP request; an exception counts as the 500 the server answers."""

    def __init__(self, app: ASGIApp, metrics: RedMetrics, routes: RouteTemplates) -> None:
        """Wrap ``app``, recording into ``metrics`` under the templates of ``routes``."""
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; record method, route, status and duration when it ends."""
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self.metrics.observe(
                scope["method"],
                self.routes.match(_route_path(scope)),
                status,
                time.perf_counter() - started,
            )


def install_metrics(app: FastAPI) -> RedMetrics:
    """Serve ``/metrics`` (outside the OpenAPI document) and record every request."""
    metrics = RedMetrics()

    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_route(METRICS_PATH, metrics_endpoint, methods=["GET"], include_in_schema=False)
    routes = RouteTemplates(lambda: app.openapi().get("paths", {}))
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=routes)
    return metrics
