"""Container registries: image references, credentials, error classification, manifests.

The registry HTTP API (distribution v2 / OCI) is spoken directly only for what the Docker
engine does not tell us: the digest a tag points at (`HEAD /v2/<name>/manifests/<ref>`,
header `Docker-Content-Digest`). Authentication follows the registry's challenge: Basic
(htpasswd registries, ECR) or a Bearer token from the realm it names (GHCR, Docker Hub).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

DOCKER_HUB = "docker.io"
MANIFEST_MEDIA_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY_PATH = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageReference:
    """`registry/path[:tag][@digest]`, split the way the Docker engine splits it."""

    registry: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """The repository as written in `docker push` (Docker Hub's host left implicit)."""
        return self.path if self.registry == DOCKER_HUB else f"{self.registry}/{self.path}"

    def with_tag(self, tag: str) -> str:
        """`repository:tag`."""
        return f"{self.repository}:{tag}"

    def with_digest(self, digest: str) -> str:
        """`repository@sha256:...`: the immutable reference a deploy should use."""
        return f"{self.repository}@{digest}"


def split_registry(name: str) -> tuple[str, str]:
    """(registry host, the rest) of an image name: Docker Hub when it names no host.

    The first component is a registry host only if it looks like one, as the engine decides
    (a '.', a ':', or `localhost`): `acme/orders` is on Docker Hub, `ghcr.io/acme/orders` not.
    """
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return DOCKER_HUB, name


def parse_reference(text: str) -> ImageReference:
    """Parse an image reference; raise ValueError saying what is wrong with it."""
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{digest!r} is not a sha256 digest")
    registry, path = split_registry(rest)
    tag: str | None = None
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ValueError(f"{tag!r} is not a valid tag")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _REPOSITORY_PATH.match(path):
        raise ValueError(
            f"{path!r} is not a valid repository path (lowercase letters, digits, "
            "'.', '_', '-' and '/' between components)"
        )
    return ImageReference(registry=registry, path=path, tag=tag, digest=digest or None)


@dataclass(frozen=True)
class RegistryCredentials:
    """A username and a password or token for one registry host."""

    registry: str
    username: str
    password: SecretStr

    def auth_config(self) -> dict[str, str]:
        """What the Docker engine API takes (X-Registry-Auth): nothing is written to disk."""
        return {
            "username": self.username,
            "password": self.password.get_secret_value(),
            "serveraddress": self.registry,
        }

    def basic_header(self) -> str:
        """`Basic base64(user:password)`."""
        pair = f"{self.username}:{self.password.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(pair).decode()


def registry_host(image: str) -> str:
    """The registry part of an image reference (Docker Hub when there is none)."""
    return split_registry(image)[0]


@dataclass(frozen=True)
class RegistryLogin:
    """A user's registry username and password, not yet tied to a host.

    The host is the one the image being pulled names (or `registry`, when the user names
    one): credentials never go to any other registry, Docker Hub included.
    """

    username: str
    password: SecretStr
    registry: str | None = None

    def credentials_for(self, image: str) -> RegistryCredentials:
        """The credentials to send when pulling `image`."""
        return RegistryCredentials(
            self.registry or registry_host(image), self.username, self.password
        )


class RegistryErrorKind(StrEnum):
    """What a registry (or the engine talking to it) error means for the caller."""

    AUTH = "auth"  # wrong or missing credentials, no permission: retrying cannot help
    TRANSIENT = "transient"  # the registry or the network hiccuped: retry with backoff
    PERMANENT = "permanent"  # anything else (invalid manifest, unknown name): report it


# Order matters: an auth failure reported as "... 401 ... connection closed" is still auth.
_AUTH_PATTERNS = re.compile(
    r"unauthori[sz]ed|authentication required|no basic auth credentials|\bdenied\b|"
    r"\b401\b|\b403\b|forbidden|incorrect username or password|invalid username/password",
    re.IGNORECASE,
)
_TRANSIENT_PATTERNS = re.compile(
    r"connection refused|connection reset|reset by peer|broken pipe|\beof\b|timed? ?out|"
    r"timeout|temporar(?:y|ily)|try again|\b50[0234]\b|internal server error|bad gateway|"
    r"service unavailable|gateway time|too many requests|toomanyrequests|\b429\b|"
    r"server closed|unexpected end|connection aborted|network is unreachable",
    re.IGNORECASE,
)


def classify_error(message: str) -> RegistryErrorKind:
    """Classify an error message from a registry, the engine's push/login, or a client."""
    if _AUTH_PATTERNS.search(message):
        return RegistryErrorKind.AUTH
    if _TRANSIENT_PATTERNS.search(message):
        return RegistryErrorKind.TRANSIENT
    return RegistryErrorKind.PERMANENT


class RegistryError(Exception):
    """A registry request failed; `kind` says whether to retry."""

    def __init__(self, message: str, kind: RegistryErrorKind) -> None:
        super().__init__(message)
        self.kind = kind


def _scheme(registry: str) -> str:
    # The engine talks plain HTTP to loopback registries (its default insecure range); so do we.
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    return "http" if host in ("localhost", "127.0.0.1", "[::1]", "::1") else "https"


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, params = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', params))


def _open(request: urllib.request.Request, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """Send a request; return status, headers and body (4xx/5xx are answers, not exceptions)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https only)
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), b""
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise RegistryError(f"{request.full_url}: {reason}", RegistryErrorKind.TRANSIENT) from None


def _bearer_token(
    challenge: dict[str, str],
    repository_path: str,
    credentials: RegistryCredentials | None,
    timeout: float,
    actions: str = "pull",
) -> str:
    query = {
        "service": challenge.get("service", ""),
        "scope": f"repository:{repository_path}:{actions}",
    }
    url = challenge["realm"] + "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(url)  # noqa: S310 (the registry's own token realm)
    if credentials is not None:
        request.add_header("Authorization", credentials.basic_header())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        kind = classify_error(str(error.code))
        raise RegistryError(f"token request to {challenge['realm']}: {error.code}", kind) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise RegistryError(
            f"token request to {challenge['realm']}: {getattr(error, 'reason', error)}",
            RegistryErrorKind.TRANSIENT,
        ) from None
    token = body.get("token") or body.get("access_token")
    if not token:
        raise RegistryError("the token realm answered without a token", RegistryErrorKind.AUTH)
    return str(token)


@dataclass(frozen=True)
class RegistryAnswer:
    """A successful answer: headers (lower-case names) and body."""

    headers: dict[str, str]
    body: bytes

    @property
    def digest(self) -> str:
        """`Docker-Content-Digest`, or "" when the registry sent none."""
        return self.headers.get("docker-content-digest", "")


def _request(
    method: str,
    reference: ImageReference,
    kind: str,
    target: str,
    credentials: RegistryCredentials | None,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30.0,
    expected: tuple[int, ...] = (200,),
) -> RegistryAnswer:
    """One registry API call on `/v2/<path>/<kind>/<target>`, answering its auth challenge."""
    base = f"{_scheme(reference.registry)}://{reference.registry}"
    url = f"{base}/v2/{reference.path}/{kind}/{target}"
    headers = dict(headers or {})
    # http(s) only: the scheme is chosen above, never taken from input.
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    status, answer, content = _open(request, timeout)
    if status == 401:
        scheme, challenge = _parse_challenge(answer.get("Www-Authenticate", ""))
        if scheme == "bearer" and "realm" in challenge:
            actions = "pull" if method in ("GET", "HEAD") else "pull,push"
            token = _bearer_token(challenge, reference.path, credentials, timeout, actions)
            headers["Authorization"] = f"Bearer {token}"
        elif credentials is not None:
            headers["Authorization"] = credentials.basic_header()
        request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
        status, answer, content = _open(request, timeout)
    if status not in expected:
        message = f"{method} {url} answered {status}"
        kind_of = RegistryErrorKind.PERMANENT if status == 404 else classify_error(str(status))
        raise RegistryError(message, kind_of)
    return RegistryAnswer({key.lower(): value for key, value in answer.items()}, content)


def manifest_digest(
    reference: ImageReference,
    credentials: RegistryCredentials | None = None,
    timeout: float = 30.0,
) -> str:
    """The digest the registry serves for `reference` (its tag or digest), from a HEAD request.

    Raises RegistryError (kind AUTH, TRANSIENT or PERMANENT) when it cannot be had.
    """
    target = reference.digest or reference.tag or "latest"
    answer = _request(
        "HEAD",
        reference,
        "manifests",
        target,
        credentials,
        headers={"Accept": MANIFEST_MEDIA_TYPES},
        timeout=timeout,
    )
    if not answer.digest:
        raise RegistryError(
            f"HEAD {reference.repository}:{target} sent no Docker-Content-Digest",
            RegistryErrorKind.PERMANENT,
        )
    return answer.digest


@dataclass(frozen=True)
class Manifest:
    """A manifest or index as the registry stores it: the exact bytes, their type, digest."""

    media_type: str
    body: bytes
    digest: str

    def json(self) -> dict[str, Any]:
        """The parsed document."""
        parsed = json.loads(self.body)
        return parsed if isinstance(parsed, dict) else {}


def get_manifest(
    reference: ImageReference, target: str, credentials: RegistryCredentials | None
) -> Manifest:
    """The manifest (or index) at `target` (a tag or a digest), byte for byte."""
    answer = _request(
        "GET", reference, "manifests", target, credentials, headers={"Accept": MANIFEST_MEDIA_TYPES}
    )
    media_type = answer.headers.get("content-type", "").split(";")[0].strip()
    digest = "sha256:" + hashlib.sha256(answer.body).hexdigest()
    if target.startswith("sha256:") and digest != target:
        raise RegistryError(
            f"the registry served {digest} for {target}", RegistryErrorKind.PERMANENT
        )
    return Manifest(media_type, answer.body, digest)


def get_blob_json(
    reference: ImageReference, digest: str, credentials: RegistryCredentials | None
) -> dict[str, Any]:
    """A small JSON blob (an image config) by digest."""
    answer = _request("GET", reference, "blobs", digest, credentials)
    parsed = json.loads(answer.body)
    return parsed if isinstance(parsed, dict) else {}


def put_manifest(
    reference: ImageReference, tag: str, manifest: Manifest, credentials: RegistryCredentials | None
) -> str:
    """Point `tag` at `manifest` (the same bytes: the same digest); return the digest."""
    answer = _request(
        "PUT",
        reference,
        "manifests",
        tag,
        credentials,
        headers={"Content-Type": manifest.media_type},
        body=manifest.body,
        expected=(201, 200),
    )
    return answer.digest or manifest.digest
