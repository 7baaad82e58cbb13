"""AWS for tests: boto3 clients with fake credentials, and moto's server as the endpoint."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from tests.support.components import component_missing, free_port

REGION = "eu-west-1"


def aws_client(service: str, endpoint: str | None = None) -> Any:
    """A boto3 client of `service` with fake credentials; moto's server when `endpoint`."""
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode, its own process on a free 127.0.0.1 port; its endpoint URL.

    Each one holds its own state: tests that create the same cluster or service names
    take one each.
    """
    import httpx

    executable = Path(sys.executable).parent / "moto_server"
    if not executable.exists():
        component_missing("moto server", f"{executable} is missing (uv sync installs moto[server])")
    port = free_port()
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=2)
                break
            except httpx.HTTPError as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    component_missing("moto server", f"{endpoint} did not come up: {error}")
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
