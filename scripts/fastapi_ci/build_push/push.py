"""Log in and push, retrying what is transient and saying plainly what is not.

Retries wrap whole operations (a login, the push of one tag): the engine resumes a push
from the layers the registry already has, so a retry after a dropped connection costs
little. Authentication failures are never retried: the same credentials get the same no.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi_ci.action_io import Console
from fastapi_ci.clients.docker_engine import Engine, read_push_stream
from fastapi_ci.clients.registry import (
    ImageReference,
    RegistryCredentials,
    RegistryError,
    RegistryErrorKind,
    manifest_digest,
)
from fastapi_ci.errors import CheckFailed
from fastapi_ci.retry import RetryPolicy, retry_call

T = TypeVar("T")

AUTH_WHY = (
    "the registry answered with an authentication/authorization error; this is not "
    "retried, because the same credentials get the same answer"
)
AUTH_FIX = (
    "check registry-username and registry-password (GHCR: the job needs "
    "`permissions: packages: write` and GITHUB_TOKEN or a token with write:packages; "
    "ECR: ecr: true and an AWS role allowed to push)"
)


def _is_transient(error: BaseException) -> bool:
    return isinstance(error, RegistryError) and error.kind is RegistryErrorKind.TRANSIENT


def with_registry_retries(
    operation: Callable[[], T], *, what: str, policy: RetryPolicy, console: Console
) -> T:
    """Run a registry operation with retries; turn what is left into a clear CheckFailed."""

    def warn(attempt: int, delay: float, error: BaseException) -> None:
        console.warning(
            f"{what}: attempt {attempt}/{policy.attempts} failed ({error}); "
            f"retrying in {delay:.0f}s",
            title="build-push",
        )

    try:
        return retry_call(
            operation, what=what, policy=policy, is_transient=_is_transient, on_retry=warn
        )
    except RegistryError as error:
        if error.kind is RegistryErrorKind.AUTH:
            raise CheckFailed(
                f"{what} was refused: {error} (authentication error, not retried)",
                why=AUTH_WHY,
                fix=AUTH_FIX,
                docs="build-push#permissions",
            ) from None
        raise CheckFailed(
            f"{what} failed: {error}",
            why="the registry rejected the request with a permanent error (not retried)",
            docs="build-push#checks-in-order",
        ) from None


def login(
    engine: Engine, credentials: RegistryCredentials, policy: RetryPolicy, console: Console
) -> None:
    """Check credentials before building: a wrong password should cost seconds, not a build."""
    with_registry_retries(
        lambda: engine.login(credentials),
        what=f"login to {credentials.registry} as {credentials.username!r}",
        policy=policy,
        console=console,
    )


@dataclass(frozen=True)
class PushResult:
    """The digest the tags point at, and the full references pushed."""

    digest: str
    references: tuple[str, ...]


def push_tags(
    engine: Engine,
    reference: ImageReference,
    tags: tuple[str, ...],
    credentials: RegistryCredentials | None,
    policy: RetryPolicy,
    console: Console,
) -> PushResult:
    """Push every tag (the first uploads the layers, the others only a manifest)."""
    digests: dict[str, str] = {}
    for tag in tags:
        full = reference.with_tag(tag)

        def push_one(tag: str = tag) -> str | None:
            return read_push_stream(
                engine.push_events(reference.repository, tag, credentials)
            ).digest

        with console.group(f"push {full}"):
            digest = with_registry_retries(
                push_one, what=f"push of {full}", policy=policy, console=console
            )
            if digest is None:
                # An engine that did not report it: ask the registry what the tag points at.
                def lookup(tag: str = tag) -> str:
                    tagged = ImageReference(reference.registry, reference.path, tag)
                    return manifest_digest(tagged, credentials)

                digest = with_registry_retries(
                    lookup,
                    what=f"digest lookup of {full}",
                    policy=policy,
                    console=console,
                )
            console.info(f"{full} -> {digest}")
        digests[full] = digest
    distinct = set(digests.values())
    if len(distinct) != 1:
        raise CheckFailed(
            "the pushed tags point at different digests: "
            + ", ".join(f"{ref}={digest}" for ref, digest in digests.items()),
            why="another job pushed to the same tags at the same time",
            fix="serialize publishing jobs with a concurrency group",
            docs="build-push#troubleshooting",
        )
    return PushResult(digest=distinct.pop(), references=tuple(digests))
