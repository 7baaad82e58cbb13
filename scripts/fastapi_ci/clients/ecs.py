"""Amazon ECS: the client set-up and task-definition revisions every action shares.

botocore retries throttling and transient errors itself (standard mode, below), so the
calls here are plain.
"""

from __future__ import annotations

from typing import Any

from fastapi_ci.errors import CheckFailed, InputError

# Fields of DescribeTaskDefinition that RegisterTaskDefinition accepts back.
REGISTRABLE_FIELDS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)


def make_client(service_name: str) -> Any:
    """A boto3 client from the usual AWS environment (region, credentials, AWS_ENDPOINT_URL)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    config = Config(retries={"mode": "standard", "max_attempts": 6})
    try:
        return boto3.client(service_name, config=config)
    except NoRegionError:
        raise CheckFailed(
            "no AWS region configured",
            fix="set AWS_REGION (aws-actions/configure-aws-credentials does)",
            why="ECS services and task definitions live in one region, which the job must name",
            docs="rollout#permissions",
        ) from None


def container_name(task_definition: dict[str, Any], wanted: str | None, where: str) -> str:
    """The named container of a task definition (InputError if absent), else the first."""
    names = [c["name"] for c in task_definition["containerDefinitions"]]
    if wanted is None:
        return str(names[0])
    if wanted not in names:
        raise InputError(
            "container",
            f"{where} has no container {wanted!r} ({', '.join(names)})",
            fix="name one of the containers listed, or leave container empty for the first",
            docs="rollout#rollout",
        )
    return wanted


def register_revision(
    ecs: Any,
    described: dict[str, Any],
    container: str,
    image: str,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Register a new revision of `described` with `image` (and env merged) in `container`."""
    registration = {k: described[k] for k in REGISTRABLE_FIELDS if k in described}

    def updated(definition: dict[str, Any]) -> dict[str, Any]:
        if definition["name"] != container:
            return definition
        changed = {**definition, "image": image}
        if env:
            kept = [e for e in definition.get("environment", []) if e["name"] not in env]
            changed["environment"] = kept + [{"name": k, "value": v} for k, v in env.items()]
        return changed

    registration["containerDefinitions"] = [
        updated(definition) for definition in described["containerDefinitions"]
    ]
    registered: dict[str, Any] = ecs.register_task_definition(**registration)["taskDefinition"]
    return registered
