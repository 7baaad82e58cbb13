"""A scripted backend: each wait returns the next observation of a list, calls are recorded."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi_ci.rollout.backend import Observation, RolloutStart


@dataclass
class ScriptedBackend:
    """Implements `Backend` from a script of observations (forward wait, then rollback wait)."""

    image: str = "registry.example/app:v1@sha256:1111"
    previous: str | None = "registry.example/app:v0@sha256:0000"
    # Each wait returns the next observation, or raises it if it is an exception.
    waits: list[Observation | BaseException] = field(default_factory=list)
    final: Observation = field(default_factory=lambda: Observation("complete", "still complete"))
    calls: list[str] = field(default_factory=list)
    name: str = "scripted"

    def describe(self) -> str:
        return "scripted service"

    def current_image(self) -> str:
        return self.image

    def previous_image(self) -> str | None:
        return self.previous

    def resolve(self, image: str) -> str:
        return image

    def set_image(self, image: str, env: dict[str, str]) -> RolloutStart:
        self.calls.append(f"set_image {image} {sorted(env.items())}")
        self.previous, self.image = self.image, image
        return RolloutStart(self.previous, image, 1000.0)

    def observe(self, expected_image: str) -> Observation:
        self.calls.append(f"observe {expected_image}")
        return self.final

    def wait(self, expected_image: str, deadline: float) -> Observation:
        self.calls.append(f"wait {expected_image}")
        seen = self.waits.pop(0)
        if isinstance(seen, BaseException):
            raise seen
        return seen

    def rollback(self) -> str:
        self.calls.append("rollback")
        assert self.previous is not None
        self.image = self.previous
        return self.previous
