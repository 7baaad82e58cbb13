"""The bake window's load: the tool's own requests, at a bounded rate, for a bounded time.

Requests go only to the service URL given, round-robin over the smoke plan's safe (GET)
operations, at `rate` requests per second in total (an open schedule: request i is due at
start + i/rate, whatever the answers' speed, so a slow version does not slow the load and
hide its own slowness), from at most `concurrency` requests in flight.
Each answer is kept: latency, and whether it was an error (a status >= 500, or no answer).

Beside the load, a reference: a do-nothing HTTP server of the tool's own on 127.0.0.1,
asked a few times a second during the window. Its latency measures the runner, not the
service: when it is much slower in the verify window than in the baseline's, the machine
was busier, and a slowdown of the service says nothing about the new version.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi_ci.verify.smoke import Operation, send

# A request not answered within this is an error (and its time is not a latency sample).
REQUEST_TIMEOUT = 10.0
REFERENCE = "reference (the runner's own loopback server)"  # its key among the samples
REFERENCE_RATE = 5.0  # requests per second


@dataclass
class EndpointSamples:
    """What one endpoint answered during a window."""

    latencies: list[float] = field(default_factory=list)  # seconds, of every answer
    errors: int = 0
    total: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # "200", "503", "ConnectError"
    # When each answered request was sent, in seconds from the window's start (one per
    # latency): verify judges latency slice by slice, so a stall of a few seconds is seen
    # as the short thing it is (`fastapi_ci.verify.verdict`).
    sent: list[float] = field(default_factory=list)

    def record(self, outcome: str, latency: float | None, error: bool, sent: float = 0.0) -> None:
        """Count one request (`sent`: seconds from the window's start)."""
        self.total += 1
        self.errors += int(error)
        self.statuses[outcome] = self.statuses.get(outcome, 0) + 1
        if latency is not None:
            self.latencies.append(latency)
            self.sent.append(sent)

    def copy(self) -> EndpointSamples:
        """A snapshot that later requests do not change."""
        return EndpointSamples(
            list(self.latencies), self.errors, self.total, dict(self.statuses), list(self.sent)
        )

    def to_json(self) -> dict[str, Any]:
        """The form a baseline file stores (latencies in ms, 0.01 ms resolution)."""
        return {
            "latencies_ms": [round(value * 1000, 2) for value in self.latencies],
            "sent_s": [round(value, 3) for value in self.sent],
            "errors": self.errors,
            "total": self.total,
            "statuses": self.statuses,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EndpointSamples:
        """Read what `to_json` wrote (a baseline without send times reads as sent at 0)."""
        latencies = [float(value) / 1000 for value in data["latencies_ms"]]
        sent = [float(value) for value in data.get("sent_s", [])]
        return cls(
            latencies=latencies,
            errors=int(data["errors"]),
            total=int(data["total"]),
            statuses={str(k): int(v) for k, v in data.get("statuses", {}).items()},
            sent=sent if len(sent) == len(latencies) else [0.0] * len(latencies),
        )


Samples = dict[str, EndpointSamples]


class _NoContent(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the name http.server dispatches to
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return  # silent: one line per request would flood the step's log


@contextmanager
def reference_server() -> Iterator[str]:
    """A do-nothing HTTP server on a free loopback port, for the duration; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoContent)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="verify-reference", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class LoadRun:
    """Requests on an open schedule from worker threads until `stop()` or the duration ends."""

    def __init__(
        self,
        make_client: Callable[[], Any],
        operations: Sequence[Operation],
        rate: float,
        duration: float,
        concurrency: int,
        reference_url: str | None = None,
        warmup: float = 0.0,
    ) -> None:
        """Plan the load; nothing is sent before `start()`.

        The first `warmup` seconds are load without samples: a version just started (its
        connection pool empty, its code paths cold, the old one still draining) is not yet
        what it will be, and the baseline was measured on a version long warm.
        """
        if not operations:
            raise ValueError("no operation to load")
        self._make_client = make_client
        self._operations = list(operations)
        self._rate = rate
        self._duration = warmup + duration
        self._warmup = warmup
        self._concurrency = concurrency
        self._lock = threading.Lock()
        self._next_ticket = 0
        self._samples: Samples = {op.key: EndpointSamples() for op in self._operations}
        self._reference_url = reference_url
        if reference_url:
            self._samples[REFERENCE] = EndpointSamples()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def start(self) -> None:
        """Begin sending."""
        self._started = time.monotonic()
        for index in range(self._concurrency):
            thread = threading.Thread(target=self._work, name=f"verify-load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self._reference_url:
            thread = threading.Thread(target=self._reference, name="verify-ref", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _reference(self) -> None:
        import httpx

        assert self._reference_url is not None
        with httpx.Client() as client:
            for index in range(int(self._duration * REFERENCE_RATE)):
                due = self._started + index / REFERENCE_RATE
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                sent = time.monotonic()
                try:
                    client.get(self._reference_url, timeout=REQUEST_TIMEOUT)
                except httpx.HTTPError as error:
                    outcome, latency = type(error).__name__, None
                else:
                    outcome, latency = "204", time.monotonic() - sent
                offset = sent - self._started - self._warmup
                if offset < 0:
                    continue
                with self._lock:
                    self._samples[REFERENCE].record(outcome, latency, latency is None, offset)

    def _ticket(self) -> tuple[Operation, float] | None:
        with self._lock:
            ticket = self._next_ticket
            self._next_ticket += 1
        due = self._started + ticket / self._rate
        if due >= self._started + self._duration:
            return None
        return self._operations[ticket % len(self._operations)], due

    def _work(self) -> None:
        import httpx

        with self._make_client() as client:
            while not self._stop.is_set():
                ticket = self._ticket()
                if ticket is None:
                    return
                operation, due = ticket
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                sent = time.monotonic()
                offset = sent - self._started - self._warmup  # < 0: in the warm-up
                try:
                    response = send(client, operation, REQUEST_TIMEOUT)
                except httpx.HTTPError as error:
                    outcome, latency, failed = type(error).__name__, None, True
                else:
                    status = response.status_code
                    outcome, latency, failed = str(status), time.monotonic() - sent, status >= 500
                if offset < 0:
                    continue
                with self._lock:
                    self._samples[operation.key].record(outcome, latency, failed, offset)

    def snapshot(self) -> Samples:
        """Everything answered so far."""
        with self._lock:
            return {key: samples.copy() for key, samples in self._samples.items()}

    def elapsed(self) -> float:
        """Seconds of the measured window so far (the warm-up excluded)."""
        return time.monotonic() - self._started - self._warmup

    def stop(self) -> None:
        """Stop sending; wait (bounded) for requests in flight."""
        self._stop.set()
        self.join()

    def join(self) -> None:
        """Wait for the schedule to end (each worker ends after its last request)."""
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
