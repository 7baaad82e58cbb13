"""rollout and wait-stable: put the new image on the orchestrator, prove it serves, or roll back.

* `rollout` sets the new image (pinned to its digest) on the service and returns at once;
* `wait-stable` waits for the orchestrator to finish, polls the deep readiness URL until N
  consecutive successes, and on any failure or timeout rolls back to the previous revision,
  waits for that to be stable, and fails the step saying what is serving now.

Both share one backend interface (`fastapi_ci.rollout.backend.Backend`); the backend is
chosen by the `backend` input and imported only when used (the SDKs are slow to import).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit

from pydantic import Field, SecretStr, field_validator

from fastapi_ci.action_io import Action, ActionInputs, ActionResult, Console, report_fields
from fastapi_ci.cancellation import cancellable
from fastapi_ci.clients.registry import RegistryLogin
from fastapi_ci.errors import InputError
from fastapi_ci.rollout.backend import Backend
from fastapi_ci.rollout.readiness import ReadinessPolicy
from fastapi_ci.rollout.stable import StableOutcome, StableSettings, roll_back, wait_stable
from fastapi_ci.step_summary import summary_from_template

# What verify, the composition above rollout, builds on (see tests/repo/test_import_layers.py).
__all__ = [
    "ROLLOUT",
    "WAIT_STABLE",
    "ReadinessPolicy",
    "ServiceInputs",
    "StableOutcome",
    "StableSettings",
    "http_url",
    "make_backend",
    "roll_back",
]

BackendName = Literal["swarm", "kubernetes", "ecs"]


class ServiceInputs(ActionInputs):
    """Inputs naming the service and how to reach its orchestrator (shared by both actions)."""

    backend: BackendName = Field(
        default="swarm", description="The orchestrator: swarm, kubernetes or ecs."
    )
    service: str = Field(
        description="The service to roll out (Swarm service, Kubernetes Deployment, ECS service)."
    )
    cluster: str = Field(default="default", description="ECS cluster name or ARN.")
    namespace: str = Field(default="default", description="Kubernetes namespace.")
    container: str | None = Field(
        default=None, description="The container to update (default the first)."
    )
    kube_context: str | None = Field(
        default=None,
        description="kubeconfig context (default in-cluster config, else the current context).",
    )
    registry: str | None = Field(
        default=None,
        description="The registry host the nodes pull from (default: the image's host).",
    )
    registry_username: str | None = Field(
        default=None, description="Registry user, passed to the nodes with the update."
    )
    registry_password: SecretStr | None = Field(
        default=None, description="Registry password or token (masked)."
    )

    @field_validator("service")
    @classmethod
    def _service_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


# Six hours: GitHub's limit for a job on its hosted runners.
MAX_WAIT_SECONDS = 6 * 3600


def http_url(value: str) -> str:
    """`value` if it is an absolute http(s) URL with a host; ValueError saying why not."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"a URL must not contain whitespace, got {value!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(f"the port is not a number in {value!r}") from None
    return value


def make_backend(
    inputs: ServiceInputs, env: Mapping[str, str], since: float | None = None
) -> Backend:
    """The chosen backend, its SDK imported only now."""
    if inputs.backend == "ecs":
        from fastapi_ci.clients.ecs import make_client
        from fastapi_ci.rollout.backends.ecs import EcsBackend

        return EcsBackend(make_client("ecs"), inputs.cluster, inputs.service, inputs.container)
    if inputs.backend == "kubernetes":
        from fastapi_ci.clients.kubernetes import KubernetesApis
        from fastapi_ci.rollout.backends.kubernetes import KubernetesBackend

        return KubernetesBackend(
            KubernetesApis.from_kubeconfig(inputs.kube_context, env.get("KUBECONFIG")),
            inputs.namespace,
            inputs.service,
            inputs.container,
            since=since,
        )
    login = None
    if inputs.registry_username and inputs.registry_password:
        login = RegistryLogin(inputs.registry_username, inputs.registry_password, inputs.registry)
    from fastapi_ci.rollout.backends.swarm import SwarmBackend

    return SwarmBackend(inputs.service, env, login)


# --- rollout ------------------------------------------------------------------------------------


class RolloutInputs(ServiceInputs):
    """Inputs of `actions/rollout/action.yml` and `fastapi-ci rollout`."""

    image: str = Field(description="The new image (repo:tag or repo@sha256:...).")
    env: list[str] = Field(
        default_factory=list,
        description="Environment changes for the new version, KEY=VALUE each (shell-split).",
    )

    def cross_input_errors(self, env: Mapping[str, str]) -> list[InputError]:
        """Every `env` item is KEY=VALUE."""
        malformed = [item for item in self.env if not item.partition("=")[0] or "=" not in item]
        if not malformed:
            return []
        return [
            InputError(
                "env",
                f"expected KEY=VALUE, got {', '.join(map(repr, malformed))}",
                why="each item sets one variable of the new version; without `=` there is "
                "no value to set",
                fix="write each item as KEY=VALUE (KEY= sets an empty value)",
                docs="rollout#rollout",
            )
        ]

    def env_overrides(self) -> dict[str, str]:
        """`env` as a mapping (the model checked every item is KEY=VALUE)."""
        return dict(item.partition("=")[::2] for item in self.env)


def run_rollout(inputs: RolloutInputs, console: Console) -> ActionResult:
    """Set the new image on the service; the orchestrator starts rolling it out."""
    overrides = inputs.env_overrides()
    backend = make_backend(inputs, console.env)
    start = backend.set_image(inputs.image, overrides)
    started_at = datetime.fromtimestamp(start.started_at, UTC).isoformat()
    text = (
        f"{backend.describe()}: rollout of {start.deployed_image} started "
        f"(was {start.previous_image})"
    )
    return ActionResult(
        passed=True,
        text=text,
        summary=summary_from_template(
            "fastapi_ci.rollout",
            {"previous_image": start.previous_image, "deployed_image": start.deployed_image},
            template="started.md",
        ),
        outputs={
            "previous-image": start.previous_image,
            "deployed-image": start.deployed_image,
            "started-at": started_at,
        },
        report={
            "service": inputs.service,
            "backend": inputs.backend,
            "previous_image": start.previous_image,
            "deployed_image": start.deployed_image,
            "started_at": started_at,
        },
    )


# --- wait-stable --------------------------------------------------------------------------------


class WaitStableInputs(ServiceInputs):
    """Inputs of `actions/wait-stable/action.yml` and `fastapi-ci wait-stable`."""

    image: str | None = Field(
        default=None,
        description="The image that must end up serving (default: the one the service asks for).",
    )
    timeout: float = Field(
        default=600,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds to wait for the rollout, and again for a rollback.",
    )
    health_url: str = Field(
        default="/health/ready",
        description="Deep readiness URL, or a path joined to service-url ('' to skip).",
        json_schema_extra={"empty_is_value": True},
    )
    service_url: str | None = Field(
        default=None, description="Where the runner reaches the service (http://host:port)."
    )
    readiness_successes: int = Field(
        default=3, ge=1, le=1000, description="Consecutive ready answers needed."
    )
    readiness_failures: int = Field(
        default=3,
        ge=0,
        le=1000,
        description="Consecutive not-ready answers that fail the check early (0: wait out "
        "readiness-timeout).",
    )
    readiness_timeout: float = Field(
        default=60, gt=0, le=MAX_WAIT_SECONDS, description="Seconds the readiness check may take."
    )
    readiness_interval: float = Field(
        default=0.5,
        gt=0,
        le=600,
        description="Seconds between readiness probes (doubles on failure).",
    )
    rollback: bool = Field(default=True, description="Roll back on failure or timeout.")
    started_at: datetime | None = Field(
        default=None,
        description="When the rollout began (rollout's started-at output): Kubernetes "
        "conditions older than this are stale (default: when this step starts).",
    )

    @field_validator("service_url")
    @classmethod
    def _service_url_is_http(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @field_validator("health_url")
    @classmethod
    def _health_url_is_http_or_a_path(cls, value: str) -> str:
        if value == "" or value.startswith("/"):
            if any(ch.isspace() for ch in value):
                raise ValueError(f"a path must not contain whitespace, got {value!r}")
            return value
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected '', a /path or an http(s):// URL, got {value!r}")
        return http_url(value)

    def cross_input_errors(self, env: Mapping[str, str]) -> list[InputError]:
        """A health-url that is a path needs service-url to be joined to."""
        if self.health_url.startswith("/") and not self.service_url:
            return [
                InputError(
                    "health-url",
                    f"{self.health_url!r} is a path, and service-url is not set",
                    why="the readiness check runs from this runner, which needs the address "
                    "where it reaches the service",
                    fix="set service-url (http://host:port), give a full URL, or health-url: ''",
                    docs="wait-stable#wait-stable",
                    related=("service-url",),
                )
            ]
        return []

    def readiness_url(self) -> str | None:
        """The absolute readiness URL, or None when the deep check is switched off."""
        if not self.health_url:
            return None
        if self.health_url.startswith(("http://", "https://")):
            return self.health_url
        assert self.service_url, "cross_input_errors: a path needs service-url"
        return urljoin(self.service_url.rstrip("/") + "/", self.health_url.lstrip("/"))


def _verdict(outcome: StableOutcome, backend: Backend) -> tuple[str, str]:
    """(terminal text, markdown summary) of a wait."""
    if outcome.passed:
        line = (
            f"✅ {backend.describe()} is stable on {outcome.deployed_image} "
            f"in {outcome.duration:.1f}s"
        )
        return line, _summary(line, [])
    lines = [
        f"❌ {backend.describe()}: rollout of {outcome.deployed_image} failed after "
        f"{outcome.duration:.1f}s",
        f"what failed: {outcome.failure}",
        f"rollback: {outcome.rollback_note}",
        f"serving now: {outcome.serving}",
    ]
    if outcome.detection_seconds is not None:
        lines.append(f"failure seen → rollback begun: {outcome.detection_seconds:.2f}s")
    return "\n".join(lines), _summary(lines[0], lines[1:])


def _summary(status_line: str, facts: list[str]) -> str:
    details = "\n\n" + "\n".join(f"- {fact}" for fact in facts) if facts else ""
    return summary_from_template(
        "fastapi_ci.rollout",
        {"status_line": status_line, "details": details},
        template="wait_stable.md",
    )


def _settings(inputs: WaitStableInputs, url: str | None) -> StableSettings:
    return StableSettings(
        timeout=inputs.timeout,
        readiness=ReadinessPolicy(
            url=url,
            successes=inputs.readiness_successes,
            failures=inputs.readiness_failures,
            interval=inputs.readiness_interval,
        )
        if url
        else None,
        readiness_timeout=inputs.readiness_timeout,
        rollback=inputs.rollback,
    )


def run_wait_stable(inputs: WaitStableInputs, console: Console) -> ActionResult:
    """Wait for the orchestrator and the deep readiness check; roll back on failure."""
    url = inputs.readiness_url()
    since = inputs.started_at.timestamp() if inputs.started_at else None
    with cancellable():
        backend = make_backend(inputs, console.env, since)
        # Resolving the tag (and the registry login it needs) runs inside wait_stable's
        # guard: the rollout has begun, so its failure must roll back too.
        image = inputs.image
        expected = (lambda: backend.resolve(image)) if image else backend.current_image
        outcome = wait_stable(backend, expected, _settings(inputs, url), log=console.info)
    text, summary = _verdict(outcome, backend)
    report = {
        "service": inputs.service,
        "backend": inputs.backend,
        **report_fields(outcome, rename={"rollback_note": "rollback"}, leave_out=("duration",)),
        "duration_seconds": round(outcome.duration, 3),
        "detection_seconds": outcome.detection_seconds,
    }
    return ActionResult(
        passed=outcome.passed,
        text=text,
        summary=summary,
        outputs={
            "previous-image": outcome.previous_image or "",
            "deployed-image": outcome.deployed_image,
            "rolled-back": "true" if outcome.rolled_back else "false",
            "duration": f"{outcome.duration:.1f}",
        },
        report=report,
    )


ROLLOUT = Action(
    name="rollout",
    help="Set a new image on a service (pinned to its digest); the orchestrator rolls it out.",
    inputs=RolloutInputs,
    run=run_rollout,
)
WAIT_STABLE = Action(
    name="wait-stable",
    help="Wait for a rollout to be complete and deeply ready; roll back and fail if not.",
    inputs=WaitStableInputs,
    run=run_wait_stable,
    error_outputs={"rolled-back": "false", "previous-image": "", "deployed-image": ""},
)
