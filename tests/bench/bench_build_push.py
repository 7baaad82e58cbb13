"""Benchmark of build-push on the example service: cold build, code-only rebuild, cache hits,
added size, for one platform and for two (amd64 + arm64).

Three builders, each with a temporary copy of example-service, nothing pushed:

- `engine, 1 platform`: the engine's own BuildKit (Debian's 20.10 client, builder: docker),
  from the local stand-in base, as before;
- `buildkitd, 1 platform` and `buildkitd, 2 platforms`: `docker buildx` on the standalone
  buildkitd (.ci/buildkit.sh, remote driver), from the multi-platform stand-in base in the
  registry; the second runs arm64's RUN steps under QEMU. Two platforms are not loaded into
  the engine (a manifest list cannot be), one platform is (`--load`, as the action does).

For each: the cold build (`--ignore-cache`: docker build --no-cache, every step rerun) and
the rebuild after a code-only change (one line appended to `app/main.py`, a new line each
run), each the median of `--runs` runs; the ratio rebuild / cold (target <= 0.25); and the
cache hit ratio of the rebuild: the share of the Dockerfile's steps (BuildKit's `[stage n/m]`
vertices, per platform) that BuildKit reported `CACHED`. Times are the build step as the
action measures it (its JSON report's `build_seconds`), not the CLI's start-up. Last, the
size the service adds on its base (engine image minus base, MB = 10^6 bytes; target <= 60).

Usage: uv run python tests/bench/bench_build_push.py [--runs N] [--only engine|single|multi]
(`source .ci/services.sh` first: it exports the base images and the builder.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SERVICE = REPO_ROOT / "example-service"
FASTAPI_CI = str(Path(sys.executable).parent / "fastapi-ci")
TARGET_RATIO = 0.25
TARGET_ADDED_MB = 60.0
BYTES_PER_MB = 1_000_000
# What a developer's checkout has but the build context never sees (.dockerignore'd anyway).
NOT_COPIED = shutil.ignore_patterns(".venv", "__pycache__", ".*_cache", ".coverage", "*.xml")
# `#12 [linux/arm64 builder 4/6] RUN ...` (buildx) or `#12 [builder 4/6] RUN ...` (engine).
_STEP = re.compile(r"^#(\d+) \[[^\]]*\b\d+/\d+\]")
_CACHED = re.compile(r"^#(\d+) CACHED$")


@dataclass(frozen=True)
class Setup:
    """One way of building: a name, extra inputs, extra environment."""

    name: str
    base_image: str
    flags: tuple[str, ...]
    env: dict[str, str]


@dataclass(frozen=True)
class Build:
    """One build: its report, and the step/cached counts from its log."""

    report: dict[str, Any]
    steps: int
    cached: int

    @property
    def seconds(self) -> float:
        """The build step's duration."""
        return float(self.report["build_seconds"])

    @property
    def hit_ratio(self) -> float:
        """The share of Dockerfile steps BuildKit took from its cache."""
        return self.cached / self.steps if self.steps else 0.0


def build(context: Path, setup: Setup, image: str, *, ignore_cache: bool) -> Build:
    """One `fastapi-ci build-push` (no push); its JSON report and cache counts."""
    command = [
        FASTAPI_CI, "build-push", "--json", "--no-push", "--image", image,
        "--context", str(context), "--build-args", f"BASE_IMAGE={setup.base_image}",
        "--ref", "refs/heads/bench", "--sha", "0" * 40, *setup.flags,
        "--ignore-cache" if ignore_cache else "--no-ignore-cache",
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_")}
    done = subprocess.run(
        command, capture_output=True, text=True, env={**env, **setup.env}, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{setup.name}: build failed:\n{done.stderr[-3000:]}")
    lines = done.stderr.splitlines()
    steps = {match.group(1) for line in lines if (match := _STEP.match(line))}
    cached = {match.group(1) for line in lines if (match := _CACHED.match(line))} & steps
    return Build(json.loads(done.stdout), len(steps), len(cached))


def measure(setup: Setup, runs: int, client: docker.DockerClient) -> dict[str, Any]:
    """Cold and code-change builds, `runs` times each; medians, and the engine image size."""
    # In the local registry's namespace: the login the buildkitd rows pass is for its host.
    registry = os.environ.get("FASTAPI_CI_REGISTRY", "127.0.0.1:5000")
    image = f"{registry}/fastapi-ci-bench/example-service-{uuid.uuid4().hex[:8]}"
    colds: list[Build] = []
    warms: list[Build] = []
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-bench-") as directory:
        context = Path(directory) / "example-service"
        shutil.copytree(EXAMPLE_SERVICE, context, ignore=NOT_COPIED)
        for run in range(runs):
            colds.append(build(context, setup, image, ignore_cache=True))
            with (context / "app" / "main.py").open("a", encoding="utf-8") as module:
                module.write(f"\n# code-only change {run} for the rebuild benchmark\n")
            warms.append(build(context, setup, image, ignore_cache=False))
    image_size = None
    last_id = warms[-1].report.get("image_id")
    if last_id:
        image_size = int(client.images.get(last_id).attrs["Size"])
    for each in {b.report.get("image_id") for b in colds + warms} - {None, ""}:
        client.images.remove(each, force=True)
    return {
        "cold": statistics.median(b.seconds for b in colds),
        "warm": statistics.median(b.seconds for b in warms),
        "hits": statistics.median(b.hit_ratio for b in warms),
        "steps": warms[-1].steps,
        "cached": warms[-1].cached,
        "image_size": image_size,
        "builder": colds[0].report["builder"],
    }


def main() -> int:
    """Run the benchmark and print the figures with PASS/MISS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-image",
        default=os.environ.get("FASTAPI_CI_BASE_IMAGE", "fastapi-ci/python-standin:3.11"),
    )
    parser.add_argument(
        "--multi-base-image", default=os.environ.get("FASTAPI_CI_BASE_IMAGE_MULTIARCH", "")
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["engine", "single", "multi"], action="append")
    arguments = parser.parse_args()
    buildx_env = {
        "BUILDX_CONFIG": os.environ.get("FASTAPI_CI_BUILDX_CONFIG", ""),
        "BUILDX_BUILDER": os.environ.get("FASTAPI_CI_BUILDX_BUILDER", ""),
        # buildkitd pulls the base from the registry with the action's login.
        "FASTAPI_CI_BUILD_PUSH_REGISTRY_USERNAME": os.environ.get("FASTAPI_CI_REGISTRY_USER", ""),
        "FASTAPI_CI_BUILD_PUSH_REGISTRY_PASSWORD": os.environ.get(
            "FASTAPI_CI_REGISTRY_PASSWORD", ""
        ),
    }
    setups = {
        "engine": Setup("engine, 1 platform", arguments.base_image, ("--builder", "docker"), {}),
        "single": Setup(
            "buildkitd, 1 platform",
            arguments.multi_base_image,
            ("--builder", "buildx", "--platforms", "linux/amd64"),
            buildx_env,
        ),
        "multi": Setup(
            "buildkitd, 2 platforms",
            arguments.multi_base_image,
            ("--builder", "buildx", "--platforms", "linux/amd64,linux/arm64"),
            buildx_env,
        ),
    }
    wanted = arguments.only or list(setups)
    if {"single", "multi"} & set(wanted) and not (
        arguments.multi_base_image and all(buildx_env.values())
    ):
        sys.exit("the buildkitd rows need `source .ci/services.sh` (buildkit component)")
    client = docker.from_env()

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print(f"median of {arguments.runs} runs each; rebuild = after a code-only change")
    print(f"{'':24} {'cold':>8} {'rebuild':>8} {'ratio':>6} {'cache hits (rebuild)':>22}")
    results: dict[str, dict[str, Any]] = {}
    for name in wanted:
        figures = results[name] = measure(setups[name], arguments.runs, client)
        ratio = figures["warm"] / figures["cold"]
        hits = f"{figures['hits']:.0%} ({figures['cached']}/{figures['steps']} steps)"
        print(
            f"{setups[name].name:24} {figures['cold']:7.2f}s {figures['warm']:7.2f}s "
            f"{ratio:6.3f} {hits:>22}  ratio target <= {TARGET_RATIO} "
            f"{verdict(ratio <= TARGET_RATIO)}",
            flush=True,
        )
    if "engine" in results and results["engine"]["image_size"]:
        base_size = int(client.images.get(arguments.base_image).attrs["Size"])
        image_size = results["engine"]["image_size"]
        added_mb = (image_size - base_size) / BYTES_PER_MB
        print(
            f"size added on the base:  {added_mb:.1f} MB "
            f"({(image_size - base_size) / 2**20:.1f} MiB; image {image_size / BYTES_PER_MB:.1f}"
            f" MB, base {base_size / BYTES_PER_MB:.1f} MB)  target <= {TARGET_ADDED_MB:g} MB  "
            f"{verdict(added_mb <= TARGET_ADDED_MB)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
