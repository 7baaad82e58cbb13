"""Registry errors are classified for retries; image references parse like the engine's."""

from __future__ import annotations

import pytest

from fastapi_ci.clients.docker_engine import read_push_stream
from fastapi_ci.clients.registry import (
    RegistryError,
    RegistryErrorKind,
    classify_error,
    parse_reference,
    registry_host,
)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("unauthorized: authentication required", RegistryErrorKind.AUTH),
        ("no basic auth credentials", RegistryErrorKind.AUTH),
        ("denied: requested access to the resource is denied", RegistryErrorKind.AUTH),
        (
            "login attempt to http://r/v2/ failed with status: 401 Unauthorized",
            RegistryErrorKind.AUTH,
        ),
        ("unexpected status: 403 Forbidden", RegistryErrorKind.AUTH),
        ('Put "http://r/v2/x/manifests/1": EOF', RegistryErrorKind.TRANSIENT),
        ("dial tcp 127.0.0.1:5999: connect: connection refused", RegistryErrorKind.TRANSIENT),
        ("read: connection reset by peer", RegistryErrorKind.TRANSIENT),
        ("received unexpected HTTP status: 503 Service Unavailable", RegistryErrorKind.TRANSIENT),
        ("net/http: TLS handshake timeout", RegistryErrorKind.TRANSIENT),
        ("toomanyrequests: rate limit", RegistryErrorKind.TRANSIENT),
        ("manifest invalid: manifest invalid", RegistryErrorKind.PERMANENT),
        ("name unknown: repository name not known to registry", RegistryErrorKind.PERMANENT),
    ],
)
def test_error_classification(message: str, kind: RegistryErrorKind) -> None:
    assert classify_error(message) is kind


def test_the_push_stream_yields_the_digest() -> None:
    events = [
        {"status": "The push refers to repository [r/x]"},
        {"status": "Pushed", "id": "abc"},
        {"status": "main: digest: sha256:" + "1" * 64 + " size: 1786"},
        {
            "progressDetail": {},
            "aux": {"Tag": "main", "Digest": "sha256:" + "1" * 64, "Size": 1786},
        },
    ]
    outcome = read_push_stream(events)
    assert (outcome.digest, outcome.size) == ("sha256:" + "1" * 64, 1786)


def test_an_error_event_in_the_push_stream_is_raised_with_its_kind() -> None:
    events = [
        {"status": "Preparing"},
        {"errorDetail": {"message": "unauthorized: bad"}, "error": "x"},
    ]
    with pytest.raises(RegistryError) as caught:
        read_push_stream(events)
    assert caught.value.kind is RegistryErrorKind.AUTH


@pytest.mark.parametrize(
    ("text", "registry", "path", "tag"),
    [
        ("python:3.12", "docker.io", "library/python", "3.12"),
        ("ghcr.io/acme/orders", "ghcr.io", "acme/orders", None),
        ("127.0.0.1:5000/a/b:sha-1", "127.0.0.1:5000", "a/b", "sha-1"),
        ("localhost/x", "localhost", "x", None),
        ("acme/orders", "docker.io", "acme/orders", None),
    ],
)
def test_parse_reference(text: str, registry: str, path: str, tag: str | None) -> None:
    reference = parse_reference(text)
    assert (reference.registry, reference.path, reference.tag) == (registry, path, tag)


@pytest.mark.parametrize("text", ["ghcr.io/Acme/orders", "a/b:-bad", "a/b@sha256:zz"])
def test_invalid_references_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_reference(text)


@pytest.mark.parametrize(
    ("image", "host"),
    [
        ("127.0.0.1:5000/app:v1", "127.0.0.1:5000"),
        ("ghcr.io/acme/orders:1", "ghcr.io"),
        ("acme/orders:1", "docker.io"),
        ("localhost/app", "localhost"),
    ],
)
def test_registry_host_of_an_image_is_the_one_its_parsed_reference_names(
    image: str, host: str
) -> None:
    # One rule: the host credentials go to is the host the reference is pushed to or pulled from.
    assert registry_host(image) == host == parse_reference(image).registry
