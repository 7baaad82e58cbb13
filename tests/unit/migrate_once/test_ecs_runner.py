"""The ecs runner: moto's server for what it models, botocore's Stubber for task lifecycles.

moto registers task definitions, creates services and serves CloudWatch Logs, so those
responses are REAL API shapes from moto. It starts no tasks, so `RunTask` and the
`DescribeTasks` sequence (PROVISIONING -> RUNNING -> STOPPED, with `stopCode` and the
container's `exitCode`) are stubbed in the shapes of the ECS API reference; the Stubber
also checks every request against the ECS service model.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from fastapi_ci.action_io import Console
from fastapi_ci.errors import CheckFailed
from fastapi_ci.migrate_once.runners import MigrationJob
from fastapi_ci.migrate_once.runners.ecs import STARTED_BY, EcsRunner
from tests.support.aws import REGION, aws_client, moto_server

CLUSTER = "shop"
ACCOUNT = "123456789012"
TASK_ID = "0f9c1b5e2a8d4e7f9b3c6a1d5e8f2b4c"
TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{TASK_ID}"
LOG_GROUP = "/ecs/orders"
JOB = MigrationJob(
    command=["alembic", "upgrade", "head"], env={"LOG_LEVEL": "DEBUG"}, timeout_seconds=30
)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server of this module's own (the rollout tests' one has the same names)."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def moto_state(moto_endpoint: str) -> dict[str, Any]:
    """A cluster, the app's task definition (awslogs) and its awsvpc service, in moto."""
    ec2 = aws_client("ec2", moto_endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="orders", Description="orders", VpcId=vpc)
    ecs = aws_client("ecs", moto_endpoint)
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
                "image": "registry.example/orders:1.0",
                "essential": True,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": LOG_GROUP,
                        "awslogs-region": REGION,
                        "awslogs-stream-prefix": "orders",
                    },
                },
            }
        ],
    )
    ecs.create_service(
        cluster=CLUSTER,
        serviceName="orders",
        taskDefinition="orders",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [subnet],
                "securityGroups": [group["GroupId"]],
                "assignPublicIp": "DISABLED",
            }
        },
    )
    logs = aws_client("logs", moto_endpoint)
    logs.create_log_group(logGroupName=LOG_GROUP)
    stream = f"orders/app/{TASK_ID}"
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    now = int(time.time() * 1000)  # CloudWatch (and moto) drop events older than 14 days
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName=stream,
        logEvents=[
            {"timestamp": now, "message": "INFO  [alembic] Running upgrade  -> 0001"},
            {"timestamp": now + 1, "message": "done"},
        ],
    )

    def real(response: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}

    return {
        "task_definition": real(ecs.describe_task_definition(taskDefinition="orders")),
        "service": real(ecs.describe_services(cluster=CLUSTER, services=["orders"])),
        "ecs": ecs,
    }


def task(last_status: str, **stopped: Any) -> dict[str, Any]:
    """A task as DescribeTasks returns it."""
    container: dict[str, Any] = {
        "containerArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/{CLUSTER}/{TASK_ID}/c1",
        "taskArn": TASK_ARN,
        "name": "app",
        "lastStatus": "STOPPED" if last_status == "STOPPED" else last_status,
    }
    body: dict[str, Any] = {
        "taskArn": TASK_ARN,
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/orders:1",
        "lastStatus": last_status,
        "desiredStatus": "STOPPED" if last_status == "STOPPED" else "RUNNING",
        "launchType": "FARGATE",
        "startedBy": STARTED_BY,
        "containers": [container],
    }
    if "exit_code" in stopped:
        container["exitCode"] = stopped["exit_code"]
    if "container_reason" in stopped:
        container["reason"] = stopped["container_reason"]
    for key in ("stopCode", "stoppedReason"):
        if key in stopped:
            body[key] = stopped[key]
    return body


def stubbed_runner(
    moto_state: dict[str, Any], moto_endpoint: str, tasks: list[dict[str, Any]], **kw: Any
) -> tuple[EcsRunner, Stubber]:
    ecs = aws_client("ecs")
    stubber = Stubber(ecs)
    stubber.add_response(
        "describe_task_definition", moto_state["task_definition"], {"taskDefinition": "orders"}
    )
    stubber.add_response(
        "describe_services", moto_state["service"], {"cluster": CLUSTER, "services": ["orders"]}
    )
    network = moto_state["service"]["services"][0]["networkConfiguration"]
    stubber.add_response(
        "run_task",
        {"tasks": [task("PROVISIONING")], "failures": []},
        {
            "cluster": CLUSTER,
            "taskDefinition": moto_state["task_definition"]["taskDefinition"]["taskDefinitionArn"],
            "count": 1,
            "startedBy": STARTED_BY,
            "overrides": {
                "containerOverrides": [
                    {
                        "name": "app",
                        "command": ["alembic", "upgrade", "head"],
                        "environment": [{"name": "LOG_LEVEL", "value": "DEBUG"}],
                    }
                ]
            },
            "networkConfiguration": network,
            "launchType": "FARGATE",
        },
    )
    for each in tasks:
        stubber.add_response(
            "describe_tasks", {"tasks": [each], "failures": []}, {"cluster": CLUSTER, "tasks": ANY}
        )
    stubber.activate()
    runner = EcsRunner(
        ecs=ecs,
        logs=aws_client("logs", moto_endpoint),
        cluster=CLUSTER,
        task_definition="orders",
        service="orders",
        poll_seconds=0.01,
        **kw,
    )
    return runner, stubber


def console() -> Console:
    return Console(env={}, stdout=io.StringIO(), stderr=io.StringIO())


def test_a_task_whose_container_exits_0_succeeds_with_its_cloudwatch_log(
    moto_state: dict[str, Any], moto_endpoint: str
) -> None:
    stopped = task(
        "STOPPED", exit_code=0, stopCode="EssentialContainerExited", stoppedReason="exited"
    )
    runner, stubber = stubbed_runner(
        moto_state, moto_endpoint, [task("PENDING"), task("RUNNING"), stopped]
    )

    outcome = runner.run(JOB, console())

    assert outcome.succeeded
    assert outcome.logs == "INFO  [alembic] Running upgrade  -> 0001\ndone\n"
    assert outcome.where == f"task {TASK_ARN}"
    stubber.assert_no_pending_responses()


def test_a_nonzero_exit_code_fails_the_migration(
    moto_state: dict[str, Any], moto_endpoint: str
) -> None:
    stopped = task(
        "STOPPED",
        exit_code=1,
        stopCode="EssentialContainerExited",
        stoppedReason="Essential container in task exited",
    )
    runner, _ = stubbed_runner(moto_state, moto_endpoint, [task("RUNNING"), stopped])

    outcome = runner.run(JOB, console())

    assert outcome.exit_code == 1
    assert not outcome.succeeded


def test_a_task_that_stops_before_the_migration_runs_says_why(
    moto_state: dict[str, Any], moto_endpoint: str
) -> None:
    stopped = task(
        "STOPPED",
        stopCode="TaskFailedToStart",
        stoppedReason="CannotPullContainerError: pull image manifest has been retried 5 times",
        container_reason="CannotPullContainerError: ref not found",
    )
    runner, _ = stubbed_runner(moto_state, moto_endpoint, [task("PENDING"), stopped])

    outcome = runner.run(JOB, console())

    assert outcome.exit_code is None
    assert outcome.failure == (
        "the task stopped before the migration ran: TaskFailedToStart: "
        "CannotPullContainerError: pull image manifest has been retried 5 times "
        "(CannotPullContainerError: ref not found)"
    )


def test_a_task_past_the_timeout_is_stopped_and_fails(
    moto_state: dict[str, Any], moto_endpoint: str
) -> None:
    runner, stubber = stubbed_runner(moto_state, moto_endpoint, [task("RUNNING")] * 3)
    stubber.add_response(
        "stop_task",
        {"task": task("RUNNING")},
        {"cluster": CLUSTER, "task": TASK_ARN, "reason": "fastapi-ci migrate-once timeout"},
    )
    runner.poll_seconds = 0.2
    job = MigrationJob(command=JOB.command, env=JOB.env, timeout_seconds=0.3)

    outcome = runner.run(job, console())

    assert outcome.failure == "timed out after 0s (task stopped)"
    stubber.assert_no_pending_responses()


def test_run_task_failures_fail_with_ecs_reason(
    moto_state: dict[str, Any], moto_endpoint: str
) -> None:
    ecs = aws_client("ecs")
    stubber = Stubber(ecs)
    stubber.add_response("describe_task_definition", moto_state["task_definition"])
    stubber.add_response(
        "run_task",
        {
            "tasks": [],
            "failures": [{"arn": "arn:aws:ecs:container-instance", "reason": "RESOURCE:MEMORY"}],
        },
    )
    stubber.activate()
    runner = EcsRunner(
        ecs=ecs, logs=aws_client("logs", moto_endpoint), cluster=CLUSTER, task_definition="orders"
    )

    with pytest.raises(
        CheckFailed, match="ECS could not start the migration task: RESOURCE:MEMORY"
    ):
        runner.run(JOB, console())


def test_a_new_image_registers_a_task_definition_revision_with_it(
    moto_state: dict[str, Any], moto_endpoint: str
) -> None:
    real = moto_state["ecs"]
    described = moto_state["task_definition"]["taskDefinition"]
    # Register against moto for the real response, then replay it through the stub.
    registered = real.register_task_definition(
        family="orders",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {**described["containerDefinitions"][0], "image": "registry.example/orders:2.0"}
        ],
    )
    ecs = aws_client("ecs")
    stubber = Stubber(ecs)
    stubber.add_response("describe_task_definition", moto_state["task_definition"])
    stubber.add_response(
        "register_task_definition",
        {"taskDefinition": registered["taskDefinition"]},
        {
            "family": "orders",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "placementConstraints": [],
            "volumes": [],
            "containerDefinitions": [
                {**described["containerDefinitions"][0], "image": "registry.example/orders:2.0"}
            ],
        },
    )
    stubber.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []})
    stubber.add_response(
        "describe_tasks",
        {"tasks": [task("STOPPED", exit_code=0, stopCode="EssentialContainerExited")]},
    )
    stubber.activate()
    runner = EcsRunner(
        ecs=ecs,
        logs=aws_client("logs", moto_endpoint),
        cluster=CLUSTER,
        task_definition="orders",
        poll_seconds=0.01,
    )
    job = MigrationJob(
        command=JOB.command, env={}, timeout_seconds=30, image="registry.example/orders:2.0"
    )

    outcome = runner.run(job, console())

    assert outcome.succeeded
    assert registered["taskDefinition"]["revision"] == described["revision"] + 1
    stubber.assert_no_pending_responses()
