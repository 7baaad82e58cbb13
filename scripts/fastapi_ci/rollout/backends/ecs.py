"""rollout on Amazon ECS.

`EcsBackend` rolls a service: it registers a task definition revision with the new image,
updates the service to it, and decides stability as botocore's `services-stable` waiter
does (one deployment, running = desired) with three differences, all seen in production:
a deployment whose `rolloutState` is FAILED (the circuit breaker) is a failure even after
ECS has rolled it back and the service looks "stable" again; 0 running of 0 desired is a
failure, not stability; and a task of the new revision that stopped (`failedTasks`) fails
the rollout at once, with its `stoppedReason` and exit code. The rollback updates the
service back to the previous task definition.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi_ci.clients.ecs import container_name, register_revision
from fastapi_ci.errors import CheckFailed, InputError
from fastapi_ci.rollout.backend import Observation, RolloutStart, epoch, poll_until_settled

# ECS changes a deployment's counts every few seconds at most; polling faster only costs quota.
POLL_SECONDS = 5.0


@dataclass
class EcsBackend:
    """One ECS service in one cluster."""

    ecs: Any
    cluster: str
    service: str
    container: str | None = None
    poll_seconds: float = POLL_SECONDS
    wall: Callable[[], float] = time.time
    previous_task_definition: str | None = None
    _images: dict[str, str] = field(default_factory=dict)
    name: str = "ecs"

    def describe(self) -> str:
        """The service as named in messages."""
        return f"ECS service {self.cluster}/{self.service}"

    def _service(self) -> dict[str, Any]:
        response = self.ecs.describe_services(cluster=self.cluster, services=[self.service])
        if not response.get("services"):
            raise InputError(
                "service",
                f"no {self.describe()}",
                why="a rollout updates an ECS service that exists; it never creates one",
                fix="check service and cluster (and AWS_REGION), or create the service first",
                docs="rollout#rollout",
            )
        found: dict[str, Any] = response["services"][0]
        return found

    def _image(self, task_definition: str) -> str:
        """The container's image in a task definition (cached: revisions are immutable)."""
        if task_definition not in self._images:
            described = self.ecs.describe_task_definition(taskDefinition=task_definition)
            definition = described["taskDefinition"]
            name = container_name(definition, self.container, task_definition)
            self._images[task_definition] = next(
                str(c["image"]) for c in definition["containerDefinitions"] if c["name"] == name
            )
        return self._images[task_definition]

    def current_image(self) -> str:
        """The image of the service's task definition."""
        return self._image(self._service()["taskDefinition"])

    def _previous_task_definition(self, service: dict[str, Any]) -> str | None:
        """What a rollback returns to: remembered, else the older deployment's, else rev - 1."""
        if self.previous_task_definition is None:
            current = service["taskDefinition"]
            older = [
                d["taskDefinition"]
                for d in service.get("deployments", [])
                if d["taskDefinition"] != current
            ]
            if older:
                self.previous_task_definition = older[0]
            else:
                family, _, revision = current.rpartition(":")
                if revision.isdigit() and int(revision) > 1:
                    self.previous_task_definition = f"{family}:{int(revision) - 1}"
        return self.previous_task_definition

    def previous_image(self) -> str | None:
        """The image of the task definition a rollback returns to."""
        previous = self._previous_task_definition(self._service())
        return self._image(previous) if previous else None

    def resolve(self, image: str) -> str:
        """The image as given: the pod template / task definition records it verbatim."""
        return image

    def set_image(self, image: str, env: dict[str, str]) -> RolloutStart:
        """Register a revision with the new image and point the service at it."""
        service = self._service()
        current = service["taskDefinition"]
        described = self.ecs.describe_task_definition(taskDefinition=current)["taskDefinition"]
        container = container_name(described, self.container, current)
        definition = next(c for c in described["containerDefinitions"] if c["name"] == container)
        previous_image = str(definition["image"])
        environment = {e["name"]: e["value"] for e in definition.get("environment", [])}
        if previous_image == image and all(environment.get(k) == v for k, v in env.items()):
            # Already asked for (a re-run after a rollout that was never judged): a new
            # revision of the same would become the "previous" one a rollback returns to.
            returns_to = self.previous_image()
            return RolloutStart(returns_to or previous_image, image, self.wall())
        registered = register_revision(self.ecs, described, container, image, env)
        started = self.wall()
        self.ecs.update_service(
            cluster=self.cluster,
            service=self.service,
            taskDefinition=registered["taskDefinitionArn"],
        )
        self.previous_task_definition = current
        return RolloutStart(previous_image, image, started)

    def _stopped_task_reason(self, task_definition: str) -> str:
        """Why the newest stopped task of `task_definition` stopped, with exit codes."""
        arns = self.ecs.list_tasks(
            cluster=self.cluster, serviceName=self.service, desiredStatus="STOPPED"
        ).get("taskArns", [])
        if not arns:
            return "no stopped task found"
        tasks = self.ecs.describe_tasks(cluster=self.cluster, tasks=arns[:100])["tasks"]
        ours = [t for t in tasks if t.get("taskDefinitionArn") == task_definition]
        if not ours:
            return "no stopped task of this revision found"
        task = max(ours, key=lambda t: t.get("stoppedAt") or t.get("createdAt") or 0)
        exits = ", ".join(
            f"{c['name']} exit code {c['exitCode']}"
            for c in task.get("containers", [])
            if c.get("exitCode") is not None
        )
        return f"{task.get('stoppedReason', 'stopped')}" + (f" ({exits})" if exits else "")

    def observe(self, expected_image: str) -> Observation:
        """DescribeServices, judged as services-stable plus the circuit breaker and 0 of 0."""
        service = self._service()
        self._previous_task_definition(service)
        deployments = service.get("deployments", [])
        ours = [d for d in deployments if self._image(d["taskDefinition"]) == expected_image]
        for deployment in ours:
            if deployment.get("rolloutState") == "FAILED":
                rolled_back = self._image(service["taskDefinition"]) != expected_image
                return Observation(
                    "failed",
                    f"deployment {deployment['id']} FAILED: "
                    f"{deployment.get('rolloutStateReason', '')}"
                    + (" — ECS has already rolled the service back" if rolled_back else ""),
                    signal_at=epoch(deployment.get("updatedAt")) or self.wall(),
                )
            if deployment.get("failedTasks", 0) > 0:
                return Observation(
                    "failed",
                    f"{deployment['failedTasks']} task(s) of {deployment['taskDefinition']} "
                    f"failed: {self._stopped_task_reason(deployment['taskDefinition'])}",
                    signal_at=self.wall(),
                )
        if self._image(service["taskDefinition"]) != expected_image:
            return Observation(
                "failed",
                f"{self.describe()} now runs {service['taskDefinition']}, not {expected_image}",
            )
        if service.get("desiredCount", 0) == 0:
            return Observation("failed", "desired count is 0: no task would serve the new image")
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        running, desired = service.get("runningCount", 0), service["desiredCount"]
        if len(deployments) == 1 and primary is not None and running == desired:
            return Observation(
                "complete",
                f"{running} of {desired} task(s) running {service['taskDefinition']}",
                serving=(expected_image,),
                signal_at=epoch(primary.get("updatedAt")),
            )
        return Observation(
            "progressing",
            f"{len(deployments)} deployment(s), {running} of {desired} task(s) running"
            + (f", rollout {primary.get('rolloutState')}" if primary else ""),
        )

    def wait(self, expected_image: str, deadline: float) -> Observation:
        """Poll DescribeServices (ECS has no watch) until settled or the deadline."""
        return poll_until_settled(lambda: self.observe(expected_image), deadline, self.poll_seconds)

    def rollback(self) -> str:
        """Point the service back at the previous task definition."""
        previous = self._previous_task_definition(self._service())
        if previous is None:
            raise CheckFailed(
                f"{self.describe()} has no previous task definition",
                why="a rollback returns to the version before this rollout, and the "
                "orchestrator kept none (a first deploy, or its history was pruned)",
                docs="wait-stable#wait-stable",
            )
        self.ecs.update_service(cluster=self.cluster, service=self.service, taskDefinition=previous)
        return self._image(previous)
