"""Benchmark of build-push on the example service: cold build, code-only rebuild, added size.

From one run, on the local engine (BuildKit), with a temporary copy of example-service:

1. cold build: `fastapi-ci build-push --ignore-cache` (docker build --no-cache: every
   layer rebuilt, requirements downloaded and installed);
2. code-only rebuild: one line appended to a module in `app/`, then a normal build: the
   dependency layers must come from the cache, only `COPY app/` and later rerun;
3. the ratio rebuild / cold (target <= 0.25);
4. the size the service adds on top of its base image: image size minus base size, as
   `docker image ls` counts them (MB = 10^6 bytes; target <= 60 MB).

Times are the build step as the action measures it (the `build_seconds` of its JSON
report: the docker build process, start to exit), not the CLI's start-up. Nothing is pushed.

Usage: uv run python tests/bench/bench_build_push.py [--base-image IMAGE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
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


def build(context: Path, base_image: str, image: str, *, ignore_cache: bool) -> dict[str, Any]:
    """One `fastapi-ci build-push` (no push); its JSON report."""
    command = [
        FASTAPI_CI, "build-push", "--json", "--no-push", "--image", image,
        "--context", str(context), "--build-args", f"BASE_IMAGE={base_image}",
        "--ref", "refs/heads/bench", "--sha", "0" * 40,
        "--ignore-cache" if ignore_cache else "--no-ignore-cache",
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"build failed:\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def main() -> int:
    """Run the benchmark and print the figures with PASS/MISS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-image",
        default=os.environ.get("FASTAPI_CI_BASE_IMAGE", "fastapi-ci/python-standin:3.11"),
    )
    arguments = parser.parse_args()
    client = docker.from_env()
    image = "fastapi-ci-bench/example-service"
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-bench-") as directory:
        context = Path(directory) / "example-service"
        shutil.copytree(EXAMPLE_SERVICE, context, ignore=NOT_COPIED)
        cold = build(context, arguments.base_image, image, ignore_cache=True)
        with (context / "app" / "main.py").open("a", encoding="utf-8") as module:
            module.write("\n# a code-only change for the rebuild benchmark\n")
        warm = build(context, arguments.base_image, image, ignore_cache=False)
    base_size = int(client.images.get(arguments.base_image).attrs["Size"])
    image_size = int(client.images.get(warm["image_id"]).attrs["Size"])
    added_mb = (image_size - base_size) / BYTES_PER_MB
    ratio = warm["build_seconds"] / cold["build_seconds"]
    for report in (cold, warm):
        client.images.remove(report["image_id"], force=True)

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print(f"builder:                 {cold['builder']} (cache: {cold['cache']})")
    print(f"cold build (--no-cache): {cold['build_seconds']:.2f} s")
    print(f"rebuild, code change:    {warm['build_seconds']:.2f} s")
    ratio_verdict = verdict(ratio <= TARGET_RATIO)
    print(f"ratio rebuild / cold:    {ratio:.3f}  target <= {TARGET_RATIO}  {ratio_verdict}")
    print(
        f"size added on the base:  {added_mb:.1f} MB ({(image_size - base_size) / 2**20:.1f} MiB;"
        f" image {image_size / BYTES_PER_MB:.1f} MB, base {base_size / BYTES_PER_MB:.1f} MB)"
        f"  target <= {TARGET_ADDED_MB:g} MB  {verdict(added_mb <= TARGET_ADDED_MB)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
