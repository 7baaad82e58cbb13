"""A pushed manifest list, read back from the registry: one image per platform.

A multi-platform result cannot be loaded into the engine (not into Debian's 20.10 one, and
not as one image into any), so what the policy and the size budget need per platform is
read where it is: the index, each platform's manifest (layer sizes, compressed, as the
registry stores them) and its image config (the USER it runs as). Attestation manifests
(provenance, SBOM) sit in the same index as `unknown/unknown` entries and are told apart
by their `vnd.docker.reference.type` annotation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi_ci.clients.registry import (
    ImageReference,
    Manifest,
    RegistryCredentials,
    get_blob_json,
    get_manifest,
)

INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
ATTESTATION = "attestation-manifest"
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")


def valid_platform(platform: str) -> bool:
    """`os/arch[/variant]`, as `--platform` takes it (linux/amd64, linux/arm/v7)."""
    return bool(_PLATFORM.match(platform))


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image in the pushed list."""

    platform: str
    digest: str
    size_bytes: int  # compressed layers + config, as stored
    user: str


@dataclass(frozen=True)
class PushedIndex:
    """The manifest list as pushed: its bytes, its images, and how many attestations."""

    manifest: Manifest
    images: tuple[PlatformImage, ...]
    attestations: int
    unknown_platform_entries: int


def _platform_of(entry: dict[str, object]) -> str:
    platform = entry.get("platform")
    if not isinstance(platform, dict):
        return "unknown/unknown"
    text = f"{platform.get('os', 'unknown')}/{platform.get('architecture', 'unknown')}"
    return f"{text}/{platform['variant']}" if platform.get("variant") else text


def _image(
    reference: ImageReference,
    platform: str,
    manifest: Manifest,
    credentials: RegistryCredentials | None,
) -> PlatformImage:
    document = manifest.json()
    config_descriptor = document.get("config") or {}
    layers = document.get("layers") or []
    size = int(config_descriptor.get("size", 0)) + sum(
        int(layer.get("size", 0)) for layer in layers
    )
    config = get_blob_json(reference, str(config_descriptor.get("digest", "")), credentials)
    user = str((config.get("config") or {}).get("User") or "")
    return PlatformImage(platform, manifest.digest, size, user)


def read_pushed(
    reference: ImageReference, digest: str, credentials: RegistryCredentials | None
) -> PushedIndex:
    """The index (or single manifest) at `digest`, with each platform's size and user."""
    top = get_manifest(reference, digest, credentials)
    document = top.json()
    if top.media_type not in INDEX_MEDIA_TYPES and "manifests" not in document:
        config = get_blob_json(
            reference, str((document.get("config") or {}).get("digest", "")), credentials
        )
        platform = f"{config.get('os', 'unknown')}/{config.get('architecture', 'unknown')}"
        if config.get("variant"):
            platform += f"/{config['variant']}"
        return PushedIndex(top, (_image(reference, platform, top, credentials),), 0, 0)
    images: list[PlatformImage] = []
    attestations = unknown = 0
    for entry in document.get("manifests") or []:
        platform = _platform_of(entry)
        unknown += platform == "unknown/unknown"
        annotations = entry.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == ATTESTATION:
            attestations += 1
            continue
        child = get_manifest(reference, str(entry["digest"]), credentials)
        images.append(_image(reference, platform, child, credentials))
    return PushedIndex(top, tuple(images), attestations, unknown)


def runs_as_root(user: str) -> bool:
    """An image config's User: empty (root by default), root or uid 0."""
    name = user.split(":", 1)[0].strip()
    return name in ("", "root", "0")
