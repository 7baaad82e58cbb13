"""An httpx client whose every socket read and write ends by a wall-clock deadline.

httpx's timeouts are per operation: a server sending one byte a second (headers or body)
never trips them, and a readiness probe would wait as long as the server likes. Here every
read and write is given at most the time left before `DeadlineTransport.until`.
"""

from __future__ import annotations

import time
from typing import Any

import httpcore
import httpx


class DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes never block past `owner.until`."""

    def __init__(self, inner: httpcore.NetworkStream, owner: DeadlineBackend) -> None:
        self.inner = inner
        self.owner = owner

    def _timeout(self, timeout: float | None) -> float:
        remaining = self.owner.until - time.monotonic()
        if remaining <= 0:
            raise httpcore.ReadTimeout("the probe's deadline passed")
        return remaining if timeout is None else min(timeout, remaining)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read at most `max_bytes`, waiting no later than the deadline."""
        return self.inner.read(max_bytes, self._timeout(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write `buffer`, waiting no later than the deadline."""
        self.inner.write(buffer, self._timeout(timeout))

    def close(self) -> None:
        """Close the socket."""
        self.inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """The TLS handshake, bounded too; the TLS stream stays bounded."""
        upgraded = self.inner.start_tls(ssl_context, server_hostname, self._timeout(timeout))
        return DeadlineStream(upgraded, self.owner)

    def get_extra_info(self, info: str) -> Any:
        """What the socket stream says about itself."""
        return self.inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, each socket wrapped in a DeadlineStream."""

    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()
        self.until = float("inf")

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        """Connect, waiting no later than the deadline."""
        remaining = self.until - time.monotonic()
        if remaining <= 0:
            raise httpcore.ConnectTimeout("the probe's deadline passed")
        bounded = remaining if timeout is None else min(timeout, remaining)
        stream = self.inner.connect_tcp(host, port, bounded, local_address, socket_options)
        return DeadlineStream(stream, self)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        """Not used: readiness URLs are http(s) over TCP."""
        raise httpcore.UnsupportedProtocol("unix sockets are not probed")

    def sleep(self, seconds: float) -> None:
        """What httpcore sleeps between connection retries (none are configured)."""
        time.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport over a DeadlineBackend; set `until` before each request."""

    def __init__(self) -> None:
        super().__init__()
        self.backend = DeadlineBackend()
        # NOTE: httpx has no public way to choose httpcore's network backend, the one layer
        # that sees every socket read; httpx 0.28 keeps the pool in `_pool` (a unit test
        # fails if that ever stops being the pool the transport uses).
        self._pool = httpcore.ConnectionPool(network_backend=self.backend)

    @property
    def until(self) -> float:
        """The monotonic time by which every read and write must end."""
        return self.backend.until

    @until.setter
    def until(self, value: float) -> None:
        self.backend.until = value


def deadline_client() -> httpx.Client:
    """An httpx client whose reads end by its transport's `until`.

    trust_env=False: a proxy from the environment would get a transport of its own,
    without the deadline (the service URL is on the runner's own network anyway).
    """
    return httpx.Client(transport=DeadlineTransport(), follow_redirects=False, trust_env=False)
