"""A real HTTP server on 127.0.0.1 that answers the way a broken or hostile service would.

Used as a readiness endpoint by the probe's unit tests and by the failure-path tests on the
real Swarm: a slow-loris answer (one byte a second), a gzip bomb, a body nested deeper than
Python's stack, a body full of workflow commands. Raw sockets, so every byte and its timing
is exactly what the test says.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

DRIP_SECONDS = 1.0


def gzip_bomb(inflated_bytes: int) -> bytes:
    """Zeros that inflate to `inflated_bytes` (about 1000:1)."""
    buffer = bytearray()
    with gzip.GzipFile(fileobj=_Sink(buffer), mode="wb", compresslevel=9) as out:
        block = b"\0" * (1 << 20)
        for _ in range(inflated_bytes // len(block)):
            out.write(block)
    return bytes(buffer)


class _Sink:
    def __init__(self, buffer: bytearray) -> None:
        self.buffer = buffer

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass


def response(status: int, body: bytes, *headers: str) -> bytes:
    """One HTTP/1.1 response with a Content-Length."""
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass
class Hostile:
    """What the server answers: `mode` picks the behaviour, `requests` counts the probes."""

    mode: str
    port: int = 0
    requests: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health/ready"

    def answer(self, connection: socket.socket) -> None:
        """Answer one request according to `mode`."""
        if self.mode == "slow-loris-body":
            # Headers promise a large body, which then arrives one byte a second.
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            self._drip(connection, b"{" * 100000)
        elif self.mode == "slow-loris-headers":
            self._drip(connection, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: y\r\n" * 10000)
        elif self.mode == "gzip-bomb":
            connection.sendall(
                response(200, _BOMB.get(), "Content-Encoding: gzip", "Content-Type: text/plain")
            )
        elif self.mode == "deep-nesting":
            connection.sendall(response(200, b"[" * 200_000))
        elif self.mode == "workflow-commands":
            body = b"::stop-commands::pwned\n::add-mask::hello\n::error::injected"
            connection.sendall(response(503, body))
        else:  # not-ready
            connection.sendall(response(503, b'{"status": "not ready"}'))

    @staticmethod
    def _drip(connection: socket.socket, data: bytes) -> None:
        for byte in data:
            connection.sendall(bytes([byte]))
            time.sleep(DRIP_SECONDS)


class _LazyBomb:
    """Built once, when first asked for (it takes a moment)."""

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.lock = threading.Lock()

    def get(self) -> bytes:
        with self.lock:
            if self.data is None:
                self.data = gzip_bomb(32 << 20)  # 32 MiB inflated from ~32 KiB
            return self.data


_BOMB = _LazyBomb()


@contextlib.contextmanager
def hostile_server(mode: str) -> Iterator[Hostile]:
    """Serve `mode` on a free 127.0.0.1 port until the block ends."""
    hostile = Hostile(mode)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            hostile.requests += 1
            connection: socket.socket = self.request
            connection.settimeout(5)
            with contextlib.suppress(OSError):
                connection.recv(65536)  # the request; its content does not matter
                hostile.answer(connection)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Handler) as server:
        hostile.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield hostile
        finally:
            server.shutdown()
