"""verify: after the rollout, prove the new version is as good as the old one, or roll back.

Two phases of one command:

* `--phase baseline`, before the rollout: the tool's own load on the OLD version for the
  window; the figures go to a baseline file (`baseline-file` output);
* `--phase verify`, after wait-stable: smoke tests generated from the golden OpenAPI
  document, then the same load on the NEW version, judged against absolute ceilings and
  against the baseline (`fastapi_ci.verify.verdict`). On failure the service is rolled back
  through the rollout backend, the old version is waited for (stable and ready), and the
  step fails with a before/after table per endpoint.

The window is looked at `looks` times: an early look can only fail the version on its errors
(and so start the rollback early); latency and passing wait for the whole window.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import Field, field_validator

from fastapi_ci.action_io import Action, ActionResult, Console
from fastapi_ci.errors import InputError
from fastapi_ci.openapi_document import load_document
from fastapi_ci.rollout import (
    ReadinessPolicy,
    ServiceInputs,
    StableOutcome,
    StableSettings,
    http_url,
    make_backend,
    roll_back,
)
from fastapi_ci.step_summary import summary_from_template
from fastapi_ci.verify import metrics
from fastapi_ci.verify.load import EndpointSamples, LoadRun, Samples, reference_server
from fastapi_ci.verify.report import (
    ICONS,
    endpoint_table,
    smoke_json,
    smoke_table,
    verdict_json,
)
from fastapi_ci.verify.smoke import SmokePlan, SmokeReport, plan, run_smoke, without_path
from fastapi_ci.verify.verdict import Thresholds, Verdict, judge, look_alpha

__all__ = ["VERIFY"]

BASELINE_FORMAT = 1
DEFAULT_BASELINE = "verify-baseline.json"


class VerifyInputs(ServiceInputs):
    """Inputs of `actions/verify/action.yml` and `fastapi-ci verify`."""

    service: str = Field(  # optional here: only a rollback needs it
        default="",
        description="The service to roll back on failure (Swarm service, Kubernetes "
        "Deployment, ECS service); needed by --phase verify unless rollback is false.",
    )
    phase: Literal["baseline", "verify"] = Field(
        default="verify",
        description="baseline (before the rollout: record the old version) or verify (after "
        "wait-stable: judge the new one).",
    )
    service_url: str = Field(
        description="Where the runner reaches the service (http://host:port); all load goes there."
    )
    openapi: str = Field(
        default="openapi.json", description="The golden OpenAPI document (JSON or YAML)."
    )
    baseline_file: str | None = Field(
        default=None,
        description="The baseline the baseline phase writes and the verify phase reads "
        "(default $RUNNER_TEMP/fastapi-ci/verify-baseline.json, else ./verify-baseline.json).",
    )
    window: float = Field(default=60, gt=0, le=3600, description="Seconds of load (bake window).")
    warmup: float = Field(
        default=10,
        ge=0,
        le=600,
        description="Seconds of load before the window, not measured (a fresh version warms up).",
    )
    rate: float = Field(
        default=20, gt=0, le=1000, description="Requests per second the tool sends, in total."
    )
    concurrency: int = Field(default=16, ge=1, le=256, description="Requests in flight at most.")
    looks: int = Field(
        default=4,
        ge=1,
        le=20,
        description="Looks at the window; an early one can fail it early on errors.",
    )
    max_error_rate: float = Field(
        default=0.01, ge=0, lt=1, description="Error-rate ceiling (5xx or no answer), 0..1."
    )
    max_p99_ms: float = Field(
        default=0, ge=0, description="p99 latency ceiling in milliseconds (0: none)."
    )
    latency_factor: float = Field(
        default=1.5, ge=1, description="Allowed slowdown against the baseline (p50 and p99)."
    )
    latency_floor_ms: float = Field(
        default=100, ge=0, description="A p50 below this (ms) never fails against baseline."
    )
    tail_floor_ms: float = Field(
        default=500,
        ge=0,
        description="A p99 below this (ms) never fails against baseline (a busy runner's stalls).",
    )
    alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="False-alarm budget: the chance of failing an unchanged version.",
    )
    min_samples: int = Field(
        default=50, ge=20, description="Answers per endpoint needed to compare with baseline."
    )
    inconclusive: Literal["pass", "fail"] = Field(
        default="pass", description="What too little data means: pass (with a warning) or fail."
    )
    smoke: bool = Field(default=True, description="Run the smoke tests before the window.")
    smoke_writes: bool = Field(
        default=False,
        description="Also call writes marked `x-fastapi-ci-smoke: true` (never others).",
    )
    metrics_path: str = Field(
        default="/metrics", description="The service's Prometheus metrics path ('' to skip)."
    )
    rollback: bool = Field(default=True, description="Roll back when the verdict is fail.")
    timeout: float = Field(default=600, gt=0, description="Seconds to wait for a rollback.")
    health_url: str = Field(
        default="/health/ready",
        description="Readiness path or URL: checked after a rollback, never loaded ('' to skip).",
    )

    @field_validator("service_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value.strip()).rstrip("/")

    def cross_input_errors(self, env: Mapping[str, str]) -> list[InputError]:
        """The verify phase names the service it may roll back."""
        if self.phase == "verify" and self.rollback and not self.service:
            return [
                InputError(
                    "service",
                    "is required to roll back",
                    why="a failed verdict rolls the service back to the old version, so "
                    "verify must know which service that is",
                    fix="name the service, or set rollback: false",
                    docs="verify#verify",
                    related=("phase", "rollback"),
                )
            ]
        return []

    def thresholds(self) -> Thresholds:
        """The limits, in seconds."""
        return Thresholds(
            alpha=self.alpha,
            max_error_rate=self.max_error_rate,
            max_p99=self.max_p99_ms / 1000 if self.max_p99_ms else None,
            latency_factor=self.latency_factor,
            latency_floor=self.latency_floor_ms / 1000,
            tail_floor=self.tail_floor_ms / 1000,
            min_samples=self.min_samples,
        )

    def url(self, path: str) -> str:
        """A path joined to service-url (a full URL stays as it is)."""
        if path.startswith(("http://", "https://")):
            return path
        return urljoin(self.service_url + "/", path.lstrip("/"))


def default_baseline_path(console: Console) -> Path:
    """Where a baseline goes when baseline-file is not given."""
    if console.env.get("RUNNER_TEMP"):
        return Path(console.env["RUNNER_TEMP"]) / "fastapi-ci" / DEFAULT_BASELINE
    return Path(DEFAULT_BASELINE)


def read_baseline(path: Path, explicit: bool) -> Samples | None:
    """The recorded old version; None when no baseline was recorded at the default path."""
    if not path.exists() and not explicit:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != BASELINE_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {BASELINE_FORMAT}")
        return {key: EndpointSamples.from_json(v) for key, v in data["endpoints"].items()}
    except OSError as error:
        raise InputError("baseline-file", f"cannot read {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(
            "baseline-file",
            f"{path} is not a verify baseline: {error}",
            why="the verify phase compares the new version with the figures the baseline "
            "phase recorded for the old one",
            fix="record it with phase: baseline before the rollout, with the same baseline-file",
            docs="verify#verify",
        ) from None


def write_baseline(path: Path, samples: Samples, inputs: VerifyInputs) -> None:
    """Record the old version's figures for the verify phase."""
    document = {
        "format": BASELINE_FORMAT,
        "recorded_at": datetime.now(UTC).isoformat(),
        "service_url": inputs.service_url,
        "window": inputs.window,
        "rate": inputs.rate,
        "endpoints": {key: value.to_json() for key, value in samples.items()},
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document), encoding="utf-8")
    except OSError as error:
        raise InputError("baseline-file", f"cannot write {path}: {error.strerror}") from None


def bake(
    inputs: VerifyInputs,
    operations: list[Any],
    baseline: Samples | None,
    console: Console,
    *,
    judge_early: bool,
) -> tuple[Samples, Verdict, float]:
    """The window of load; (samples, final or early-fail verdict, seconds it took)."""
    import httpx

    limits = inputs.thresholds()
    with (
        httpx.Client(base_url=inputs.service_url) as probe,
        reference_server() as reference_url,
    ):
        before = metrics.scrape(probe, inputs.metrics_path) if inputs.metrics_path else None
        run = LoadRun(
            lambda: httpx.Client(base_url=inputs.service_url),
            operations,
            inputs.rate,
            inputs.window,
            inputs.concurrency,
            reference_url,
            warmup=inputs.warmup,
        )
        console.info(
            f"load: {inputs.rate:g} req/s for {inputs.warmup:g}s of warm-up and a "
            f"{inputs.window:g}s window over {len(operations)} endpoint(s) of {inputs.service_url}"
        )
        run.start()
        verdict: Verdict | None = None
        for look in range(1, inputs.looks):
            time.sleep(max(0.0, inputs.window * look / inputs.looks - run.elapsed()))
            if not judge_early:
                continue
            early = judge(
                run.snapshot(),
                baseline,
                None,
                limits,
                look_alpha(inputs.alpha, inputs.looks, final=False),
                latency=False,  # a slowdown is judged on the whole window: see verdict
            )
            if early.outcome == "fail":
                console.info(f"look {look}/{inputs.looks} at {run.elapsed():.1f}s: fail")
                run.stop()
                verdict = early
                break
        if verdict is None:
            run.join()
        elapsed = run.elapsed()
        after = metrics.scrape(probe, inputs.metrics_path) if before is not None else None
    samples = run.snapshot()
    if verdict is None:
        service = metrics.deltas(before, after) if before is not None and after else None
        verdict = judge(
            samples, baseline, service, limits, look_alpha(inputs.alpha, inputs.looks, final=True)
        )
    return samples, verdict, elapsed


def roll_back_service(inputs: VerifyInputs, console: Console) -> StableOutcome:
    """Put the previous version back through the rollout backend; wait for it to be ready."""
    backend = make_backend(inputs, console.env)
    outcome = StableOutcome(
        passed=False,
        deployed_image=backend.current_image(),
        previous_image=backend.previous_image(),
        serving="",
        duration=0.0,
    )
    readiness = (
        ReadinessPolicy(url=inputs.url(inputs.health_url), failures=0)
        if inputs.health_url
        else None
    )
    settings = StableSettings(timeout=inputs.timeout, readiness=readiness, rollback=True)
    roll_back(backend, settings, outcome, True, console.info, time.monotonic, time.time)
    return outcome


def without_readiness(smoke_plan: SmokePlan, inputs: VerifyInputs) -> SmokePlan:
    """The plan without the service's readiness probe (`health-url`), neither smoked nor loaded.

    wait-stable judged it already, and it answers 503 by design while a dependency is slow:
    on a busy runner the shared database was, and the probe's 503s (not the API's) failed a
    healthy version. A version that cannot use its database fails its API endpoints too.
    """
    if not inputs.health_url:
        return smoke_plan
    probe = urlsplit(inputs.url(inputs.health_url))
    if probe.netloc != urlsplit(inputs.service_url).netloc:
        return smoke_plan
    return without_path(smoke_plan, probe.path, "the readiness probe (health-url): wait-stable's")


def _smoke(inputs: VerifyInputs, document: dict[str, Any], smoke_plan: Any) -> SmokeReport:
    import httpx

    with httpx.Client(base_url=inputs.service_url) as client:
        return run_smoke(client, document, smoke_plan, timeout=10.0)


def run_verify(inputs: VerifyInputs, console: Console) -> ActionResult:
    """Baseline or verify, as `phase` says."""
    live_at = time.time()
    document = load_document(Path(inputs.openapi), input_name="openapi")
    smoke_plan = without_readiness(plan(document, writes=inputs.smoke_writes), inputs)
    operations = [op for op in smoke_plan.operations if op.method == "GET"]
    if not operations:
        raise InputError(
            "openapi",
            f"{inputs.openapi} has no GET operation callable without inventing data",
            why="verify loads the service only with requests that cannot change its data",
            docs="verify#verify",
            fix="give the required parameters an `example`, or mark an operation "
            "`x-fastapi-ci-smoke: true`",
        )
    explicit = inputs.baseline_file is not None
    baseline_path = (
        Path(inputs.baseline_file) if inputs.baseline_file else default_baseline_path(console)
    )
    if inputs.phase == "baseline":
        return _record_baseline(inputs, operations, baseline_path, console)

    baseline = read_baseline(baseline_path, explicit)
    smoke = SmokeReport(skipped=list(smoke_plan.skipped))
    if inputs.smoke:
        smoke = _smoke(inputs, document, smoke_plan)
    verdict: Verdict | None = None
    elapsed = 0.0
    if not smoke.failures:
        _, verdict, elapsed = bake(inputs, operations, baseline, console, judge_early=True)
    failed = bool(smoke.failures) or (verdict is not None and verdict.outcome == "fail")
    outcome = "fail" if failed else (verdict.outcome if verdict else "pass")
    rolled_back: StableOutcome | None = None
    if failed and inputs.rollback:
        rolled_back = roll_back_service(inputs, console)
    passed = not failed and not (outcome == "inconclusive" and inputs.inconclusive == "fail")
    if outcome == "inconclusive" and passed:
        console.warning("too little data to compare with the baseline; passed", title="verify")
    return _result(
        inputs, smoke, verdict, outcome, passed, rolled_back, live_at, elapsed, baseline_path
    )


def _record_baseline(
    inputs: VerifyInputs, operations: list[Any], path: Path, console: Console
) -> ActionResult:
    samples, verdict, elapsed = bake(inputs, operations, None, console, judge_early=False)
    write_baseline(path, samples, inputs)
    if verdict.outcome == "fail":
        console.warning(
            "the old version already breaks a ceiling: " + "; ".join(verdict.findings),
            title="verify",
        )
    line = (
        f"📏 baseline of {inputs.service_url}: {sum(s.total for s in samples.values())} "
        f"requests in {elapsed:.1f}s, recorded in {path}"
    )
    return ActionResult(
        passed=True,
        text=f"{line}\n{endpoint_table(verdict)}",
        summary=summary_from_template(
            "fastapi_ci.verify",
            {"status_line": line, "table": endpoint_table(verdict)},
            template="baseline.md",
        ),
        outputs={"baseline-file": str(path), "verdict": "baseline", "rolled-back": "false"},
        report={"phase": "baseline", "baseline_file": str(path), **verdict_json(verdict)},
    )


def _result(
    inputs: VerifyInputs,
    smoke: SmokeReport,
    verdict: Verdict | None,
    outcome: str,
    passed: bool,
    rolled_back: StableOutcome | None,
    live_at: float,
    elapsed: float,
    baseline_path: Path,
) -> ActionResult:
    if smoke.failures:
        headline = f"{len(smoke.failures)} smoke test(s) failed on {inputs.service_url}"
    elif verdict is not None:
        headline = f"{inputs.service_url} after {elapsed:.1f}s of load: {outcome}"
    else:
        headline = f"{inputs.service_url}: {outcome}"
    lines = [f"{ICONS[outcome]} verify: {headline}"]
    lines += [f"smoke: {r.key}: {r.detail}" for r in smoke.failures]
    if verdict is not None:
        lines += [f"regression: {finding}" for finding in verdict.findings]
        lines += [f"note: {note}" for note in verdict.notes]
    detection = None
    if rolled_back is not None:
        lines.append(f"rollback: {rolled_back.rollback_note}")
        lines.append(f"serving now: {rolled_back.serving}")
        if rolled_back.rollback_begun_at is not None:
            detection = rolled_back.rollback_begun_at - live_at
            lines.append(f"verify began → rollback begun: {detection:.2f}s")
    elif outcome == "fail":
        lines.append("rollback: disabled (rollback: false): the new version stays")
    tables = [endpoint_table(verdict)] if verdict is not None else []
    tables.append(
        "<details><summary>smoke tests</summary>\n\n" + smoke_table(smoke) + "\n\n</details>"
    )
    report: dict[str, Any] = {
        "phase": "verify",
        "passed": passed,
        "verdict": outcome,
        "baseline_file": str(baseline_path),
        "smoke": smoke_json(smoke),
        "window_seconds": round(elapsed, 3),
        "rolled_back": bool(rolled_back and rolled_back.rolled_back),
        "rollback": None if rolled_back is None else rolled_back.rollback_note,
        "serving": None if rolled_back is None else rolled_back.serving,
        "detection_seconds": detection,
        "verify_started_at": live_at,
        "rollback_begun_at": None if rolled_back is None else rolled_back.rollback_begun_at,
    }
    if verdict is not None:
        report.update(verdict_json(verdict))
        report["outcome"] = outcome
    text = "\n".join(lines) + ("\n" + tables[0] if verdict is not None else "")
    summary = summary_from_template(
        "fastapi_ci.verify",
        {
            "status_icon": ICONS[outcome],
            "headline": headline,
            "findings": "\n".join(f"- {line}" for line in lines[1:]),
            "tables": "\n\n".join(tables),
        },
    )
    return ActionResult(
        passed=passed,
        text=text,
        summary=summary,
        outputs={
            "verdict": outcome,
            "rolled-back": "true" if rolled_back and rolled_back.rolled_back else "false",
            "smoke-failures": str(len(smoke.failures)),
            "baseline-file": str(baseline_path),
            "detection-seconds": "" if detection is None else f"{detection:.2f}",
        },
        report=report,
    )


VERIFY = Action(
    name="verify",
    help="After the rollout: smoke tests from the OpenAPI document and a bake window under "
    "load, against ceilings and the old version's baseline; roll back on failure.",
    inputs=VerifyInputs,
    run=run_verify,
)
