"""Benchmark of verify on a real Swarm (the local engine) with the example service.

1. False alarms: N healthy deploys of the same code (v1 → v1', alternating two images of it
   with a changed env so each is a real update), each as deploy.yml runs it: baseline of the
   serving version, rollout, wait-stable, verify with the DEFAULT thresholds (alpha,
   ceilings, factor, floor). Counts the rollbacks (target: 0).
2. Detection: for each bad v2 (tests/fixtures/verify/faulty-version: a slow list endpoint,
   5% of 500s, an endpoint removed), the time from the regression being live (Swarm's
   update complete, by wait-stable's report) to verify's rollback begun.

The load is the action's defaults too (10 s warm-up, a 60 s window at 20 requests/s): a
shorter window sees less of the machine's own slow episodes, so it says less about the
false alarms of the defaults. 20 deploys take about an hour.

Usage: uv run python tests/bench/bench_verify.py [--runs 20] [--window 60] [--rate 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402

from tests.bench.bench_rollout import build_example  # noqa: E402
from tests.support.components import EXAMPLE_SERVICE, Postgres, Registry  # noqa: E402
from tests.support.example_service import alembic  # noqa: E402
from tests.support.rollout import roll_out, wait_stable  # noqa: E402
from tests.support.swarm import (  # noqa: E402
    SwarmService,
    create_service,
    ensure_swarm,
    push_faulty_versions,
    push_versions,
    remove_service,
)
from tests.support.verify import run_verify  # noqa: E402

DOCKER = ["/usr/bin/docker"]
EXAMPLE_PYTHON = EXAMPLE_SERVICE / ".venv" / "bin" / "python"


def deploy(
    service: SwarmService, image: str, load: list[str], run: int
) -> tuple[int, dict[str, object], dict[str, object]]:
    """Baseline, rollout, wait-stable, verify: (verify's code, its report, wait-stable's)."""
    baseline = Path(tempfile.mkdtemp(prefix="fastapi-ci-verify-bench-")) / "baseline.json"
    common = [
        "--service-url", service.url, "--openapi", str(EXAMPLE_SERVICE / "openapi.json"),
        "--baseline-file", str(baseline), *load,
    ]  # fmt: skip
    code, _ = run_verify("--phase", "baseline", *common)
    assert code == 0
    started = roll_out(service, image, f"BENCH_RUN={run}")
    # Not a readiness benchmark: a loaded runner may need more than 6 s for 3 ready answers.
    code, stable = wait_stable(service, str(started["deployed_image"]), "--readiness-timeout", "30")
    assert code == 0, stable
    code, report = run_verify("--phase", "verify", *service.action_args(), *common)
    shutil.rmtree(baseline.parent, ignore_errors=True)
    return code, report, stable


def main() -> int:
    """Run the benchmark; print the false alarms and the detection times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--window", default="60")
    parser.add_argument("--rate", default="20")
    parser.add_argument(
        "--base-image",
        default=os.environ.get("FASTAPI_CI_BASE_IMAGE", "fastapi-ci/python-standin:3.11"),
    )
    args = parser.parse_args()
    load = ["--window", args.window, "--rate", args.rate]
    registry = Registry(
        host=os.environ.get("FASTAPI_CI_REGISTRY", "127.0.0.1:5000"),
        username=os.environ.get("FASTAPI_CI_REGISTRY_USER", "ci-user"),
        password=os.environ.get("FASTAPI_CI_REGISTRY_PASSWORD", "ci-password-123"),
    )
    server = Postgres(
        os.environ.get(
            "FASTAPI_CI_DATABASE_URL",
            "postgresql://fastapi_ci:fastapi_ci@127.0.0.1:5432/fastapi_ci",
        )
    )
    database = f"verify_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    database_url = server.database_url(database)
    assert alembic(EXAMPLE_PYTHON, database_url, "upgrade", "head").returncode == 0
    ensure_swarm(DOCKER)
    example = build_example(args.base_image)
    versions = push_versions(DOCKER, example, registry)
    faulty = push_faulty_versions(DOCKER, example, versions)
    service = create_service(DOCKER, versions, registry, database_url)
    rollbacks: list[int] = []
    loads: list[float] = []  # the 1-minute load average after each deploy: the machine is shared
    detections: dict[str, float] = {}
    try:
        # The bad versions first: a few minutes, so their figures are there even when the
        # hour of healthy deploys is cut short.
        for fault, image in faulty.items():
            code, report, stable = deploy(service, image, load, args.runs)
            assert code == 1, report
            assert report["rolled_back"] is True, report
            live = float(stable["complete_at"])  # type: ignore[arg-type]
            detections[fault] = float(report["rollback_begun_at"]) - live  # type: ignore[arg-type]
            print(f"{fault}: regression live → rollback begun {detections[fault]:.1f}s", flush=True)
            time.sleep(1)
        for run in range(args.runs):
            image = versions.v2 if run % 2 == 0 else versions.v1
            code, report, _ = deploy(service, image, load, run)
            if code != 0:
                rollbacks.append(run)
            loads.append(os.getloadavg()[0])
            print(
                f"healthy run {run + 1}: verdict {report.get('verdict')}, exit {code}, "
                f"load {loads[-1]:.1f}",
                flush=True,
            )
    finally:
        remove_service(DOCKER, service.name)
        subprocess.run(
            [*DOCKER, "image", "rm", "-f", example, versions.v1, versions.v2, *faulty.values()],
            capture_output=True, check=False,
        )  # fmt: skip
        shutil.rmtree(versions.docker_config, ignore_errors=True)
        with psycopg.connect(server.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(
        f"\nfalse alarms: {len(rollbacks)} rollback(s) in {args.runs} healthy deploys "
        f"(window {args.window}s at {args.rate}/s, default thresholds)"
    )
    if loads:
        print(
            f"load average (1 min) after each deploy: min {min(loads):.1f}, "
            f"median {statistics.median(loads):.1f}, max {max(loads):.1f} (2 cores)"
        )
    for fault, seconds in detections.items():
        print(f"detection, {fault}: {seconds:.1f}s")
    if detections:
        print(f"median detection: {statistics.median(detections.values()):.1f}s")
    return 1 if rollbacks else 0


if __name__ == "__main__":
    sys.exit(main())
