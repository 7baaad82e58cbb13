"""The ECS backend: moto's server for what it models, botocore's Stubber for rollouts.

moto registers task definitions and updates services, so those responses are real API
shapes. It does not move a service's deployments on `UpdateService` and starts no tasks, so
rollout sequences (deployments with `rolloutState`, `failedTasks`, a circuit-breaker
rollback, stopped tasks with `exitCode`) are stubbed in the shapes of the ECS API reference;
the Stubber also checks every request and response against the ECS service model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from fastapi_ci.rollout.backends.ecs import EcsBackend
from fastapi_ci.rollout.stable import StableSettings, wait_stable
from tests.support.aws import REGION, aws_client

ACCOUNT = "123456789012"
CLUSTER = "shop"
TD1 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/orders:1"
TD2 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/orders:2"
V1 = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/orders:v1"
V2 = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/orders:v2"
AT = datetime(2026, 11, 24, 22, 0, 0, tzinfo=UTC)
CIRCUIT_BREAKER = "ECS deployment circuit breaker: tasks failed to start."


def deployment(
    task_definition: str,
    status: str,
    rollout: str,
    running: int,
    desired: int = 1,
    failed: int = 0,
    reason: str = "",
) -> dict[str, Any]:
    """One entry of `deployments` as DescribeServices returns it."""
    return {
        "id": f"ecs-svc/{abs(hash((task_definition, status))) % 10**19:019d}",
        "status": status,
        "taskDefinition": task_definition,
        "desiredCount": desired,
        "pendingCount": max(0, desired - running),
        "runningCount": running,
        "failedTasks": failed,
        "createdAt": AT,
        "updatedAt": AT,
        "launchType": "FARGATE",
        "rolloutState": rollout,
        "rolloutStateReason": reason
        or {
            "IN_PROGRESS": "ECS deployment ecs-svc/1 in progress.",
            "COMPLETED": "ECS deployment ecs-svc/1 completed.",
            "FAILED": CIRCUIT_BREAKER,
        }[rollout],
    }


def service(
    task_definition: str, deployments: list[dict[str, Any]], running: int, desired: int = 1
) -> dict[str, Any]:
    """A DescribeServices response for the one service."""
    return {
        "services": [
            {
                "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/orders",
                "serviceName": "orders",
                "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
                "status": "ACTIVE",
                "desiredCount": desired,
                "runningCount": running,
                "pendingCount": 0,
                "launchType": "FARGATE",
                "taskDefinition": task_definition,
                "deploymentConfiguration": {
                    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                    "maximumPercent": 200,
                    "minimumHealthyPercent": 100,
                },
                "deployments": deployments,
            }
        ],
        "failures": [],
    }


def stubbed(responses: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> EcsBackend:
    ecs = aws_client("ecs")
    stubber = Stubber(ecs)
    for operation, response, params in responses:
        stubber.add_response(operation, response, params)
    stubber.activate()
    backend = EcsBackend(ecs, CLUSTER, "orders", poll_seconds=0.0, wall=lambda: AT.timestamp())
    backend._images.update({TD1: V1, TD2: V2})  # revisions are immutable: known images
    return backend


DESCRIBE = {"cluster": CLUSTER, "services": ["orders"]}


def describe(response: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    return "describe_services", response, DESCRIBE


def test_stable_means_one_deployment_with_running_equal_to_desired() -> None:
    backend = stubbed(
        [
            describe(
                service(
                    TD2,
                    [
                        deployment(TD2, "PRIMARY", "IN_PROGRESS", 0),
                        deployment(TD1, "ACTIVE", "COMPLETED", 1),
                    ],
                    running=1,
                )
            ),
            describe(
                service(
                    TD2,
                    [
                        deployment(TD2, "PRIMARY", "IN_PROGRESS", 1),
                        deployment(TD1, "ACTIVE", "COMPLETED", 1),
                    ],
                    running=2,
                )
            ),
            describe(service(TD2, [deployment(TD2, "PRIMARY", "COMPLETED", 1)], running=1)),
        ]
    )
    seen = backend.wait(V2, deadline=float("inf"))
    assert seen.phase == "complete"
    assert seen.message == f"1 of 1 task(s) running {TD2}"
    # The older deployment seen on the way is what a rollback would return to.
    assert backend.previous_task_definition == TD1


def test_a_circuit_breaker_rollback_is_a_failure_that_says_ecs_rolled_back() -> None:
    backend = stubbed(
        [
            describe(
                service(
                    TD2,
                    [
                        deployment(TD2, "PRIMARY", "IN_PROGRESS", 0),
                        deployment(TD1, "ACTIVE", "COMPLETED", 1),
                    ],
                    running=1,
                )
            ),
            describe(
                service(
                    TD1,
                    [
                        deployment(TD1, "PRIMARY", "IN_PROGRESS", 1),
                        deployment(TD2, "ACTIVE", "FAILED", 0, failed=0),
                    ],
                    running=1,
                )
            ),
        ]
    )
    seen = backend.wait(V2, deadline=float("inf"))
    assert seen.phase == "failed"
    assert CIRCUIT_BREAKER in seen.message
    assert "ECS has already rolled the service back" in seen.message


def test_stable_again_after_a_circuit_breaker_rollback_is_still_a_failure() -> None:
    # botocore's services-stable accepts this (one deployment, running = desired).
    after_rollback = service(TD1, [deployment(TD1, "PRIMARY", "COMPLETED", 1)], running=1)
    body = after_rollback["services"][0]
    assert len(body["deployments"]) == 1
    assert body["runningCount"] == body["desiredCount"]
    seen = stubbed([describe(after_rollback)]).observe(V2)
    assert seen.phase == "failed"
    assert f"now runs {TD1}, not {V2}" in seen.message


def test_zero_running_of_zero_desired_is_a_failure_not_stability() -> None:
    zero = service(
        TD2, [deployment(TD2, "PRIMARY", "COMPLETED", 0, desired=0)], running=0, desired=0
    )
    seen = stubbed([describe(zero)]).observe(V2)
    assert seen.phase == "failed"
    assert "desired count is 0" in seen.message


def stopped_task(exit_code: int) -> dict[str, Any]:
    return {
        "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0f9c1b5e2a8d4e7f",
        "taskDefinitionArn": TD2,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "stoppedAt": AT,
        "containers": [{"name": "app", "lastStatus": "STOPPED", "exitCode": exit_code}],
    }


def failing_rollout() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    task_arn = stopped_task(2)["taskArn"]
    return [
        describe(
            service(
                TD2,
                [
                    deployment(TD2, "PRIMARY", "IN_PROGRESS", 0, failed=1),
                    deployment(TD1, "ACTIVE", "COMPLETED", 1),
                ],
                running=1,
            )
        ),
        (
            "list_tasks",
            {"taskArns": [task_arn]},
            {"cluster": CLUSTER, "serviceName": "orders", "desiredStatus": "STOPPED"},
        ),
        (
            "describe_tasks",
            {"tasks": [stopped_task(2)], "failures": []},
            {"cluster": CLUSTER, "tasks": ANY},
        ),
    ]


def test_a_stopped_task_of_the_new_revision_fails_at_once_with_its_exit_code() -> None:
    seen = stubbed(failing_rollout()).wait(V2, deadline=float("inf"))
    assert seen.phase == "failed"
    assert seen.message == (
        f"1 task(s) of {TD2} failed: Essential container in task exited (app exit code 2)"
    )


def test_a_failed_rollout_is_rolled_back_to_the_previous_task_definition() -> None:
    back_on_v1 = service(TD1, [deployment(TD1, "PRIMARY", "COMPLETED", 1)], running=1)
    backend = stubbed(
        [
            describe(
                service(
                    TD2,
                    [
                        deployment(TD2, "PRIMARY", "IN_PROGRESS", 0),
                        deployment(TD1, "ACTIVE", "COMPLETED", 1),
                    ],
                    running=1,
                )
            ),
            *failing_rollout(),
            describe(back_on_v1),  # rollback: which task definition to return to
            (
                "update_service",
                {},
                {"cluster": CLUSTER, "service": "orders", "taskDefinition": TD1},
            ),
            describe(back_on_v1),
        ]
    )
    outcome = wait_stable(backend, V2, StableSettings(timeout=60, readiness=None))
    assert not outcome.passed
    assert outcome.rolled_back
    assert outcome.previous_image == V1
    assert outcome.serving == V1
    assert "exit code 2" in str(outcome.failure)


@pytest.fixture
def moto_service(moto_server: str) -> Any:
    """A cluster, task definition orders:1 (image v1) and service in moto's server."""
    ecs = aws_client("ecs", moto_server)
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family="orders",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "app",
                "image": V1,
                "essential": True,
                "environment": [{"name": "LOG_LEVEL", "value": "info"}],
            }
        ],
    )
    ecs.create_service(
        cluster=CLUSTER, serviceName="orders", taskDefinition="orders:1", desiredCount=1
    )
    yield ecs
    ecs.delete_service(cluster=CLUSTER, service="orders", force=True)


def test_set_image_registers_a_revision_and_rollback_returns_to_it_on_moto(
    moto_service: Any,
) -> None:
    backend = EcsBackend(moto_service, CLUSTER, "orders", poll_seconds=0.0)
    start = backend.set_image(V2, {"LOG_LEVEL": "debug", "FEATURE": "on"})
    assert (start.previous_image, start.deployed_image) == (V1, V2)
    described = moto_service.describe_services(cluster=CLUSTER, services=["orders"])["services"][0]
    new_revision = moto_service.describe_task_definition(taskDefinition=described["taskDefinition"])
    container = new_revision["taskDefinition"]["containerDefinitions"][0]
    assert container["image"] == V2
    assert {e["name"]: e["value"] for e in container["environment"]} == {
        "LOG_LEVEL": "debug",
        "FEATURE": "on",
    }
    assert backend.current_image() == V2
    assert backend.previous_image() == V1
    assert backend.rollback() == V1
    back = moto_service.describe_services(cluster=CLUSTER, services=["orders"])["services"][0]
    assert back["taskDefinition"].endswith("task-definition/orders:1")


def test_rolling_the_same_image_again_keeps_the_previous_revision_to_return_to_on_moto(
    moto_service: Any,
) -> None:
    # A first run rolled V2 out and died before judging it; the re-run rolls V2 again.
    EcsBackend(moto_service, CLUSTER, "orders", poll_seconds=0.0).set_image(V2, {})
    rerun = EcsBackend(moto_service, CLUSTER, "orders", poll_seconds=0.0)
    start = rerun.set_image(V2, {})
    assert (start.previous_image, start.deployed_image) == (V1, V2)
    judge = EcsBackend(moto_service, CLUSTER, "orders", poll_seconds=0.0)  # wait-stable's
    assert judge.previous_image() == V1
    assert judge.rollback() == V1
