"""The build-push report (what --json prints) and its renderings: terminal text, step summary."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fastapi_ci.action_io import markdown_cell
from fastapi_ci.build_push.policy import Finding
from fastapi_ci.step_summary import summary_from_template

BYTES_PER_MB = 1_000_000  # as `docker image ls` counts


class Layer(BaseModel):
    """One layer of the image, from `docker history`."""

    size_mb: float
    created_by: str


class PolicyFinding(BaseModel):
    """A policy finding in the report."""

    rule: str
    level: str
    message: str
    line: int | None
    fix: str = ""

    @classmethod
    def of(cls, finding: Finding) -> PolicyFinding:
        """From the checker's finding."""
        return cls(
            rule=finding.rule,
            level=finding.level,
            message=finding.message,
            line=finding.line,
            fix=finding.fix,
        )


class PlatformReport(BaseModel):
    """One platform's image in what was pushed."""

    platform: str
    digest: str
    size_mb: float | None = None
    user: str = ""


class BuildPushReport(BaseModel):
    """The plan, and what happened to it."""

    image: str
    version: str
    tags: list[str] = Field(description="Full references, most specific first.")
    labels: dict[str, str]
    build_args: dict[str, str]
    push: bool
    dry_run: bool
    dockerfile: str
    context: str
    builder: str = "auto"
    cache: str = "auto"
    provenance: str = "false"
    sbom: bool = False
    platforms_requested: list[str] = Field(default_factory=list)
    target: str | None = None
    secret_ids: list[str] = Field(default_factory=list, description="Ids only, never values.")
    platforms: list[PlatformReport] = Field(default_factory=list)
    attestations: int = 0
    policy: list[PolicyFinding] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    image_id: str = ""
    digest: str = ""
    size_mb: float | None = None
    size_budget_mb: float | None = None
    build_seconds: float | None = None
    largest_layers: list[Layer] = Field(default_factory=list)
    pushed: bool = False

    @property
    def policy_errors(self) -> list[PolicyFinding]:
        """The findings that fail the build."""
        return [finding for finding in self.policy if finding.level == "error"]


def render_text(report: BuildPushReport, headline: str) -> str:
    """The terminal rendering: one fact per line."""
    lines = [headline]
    if report.image_id:
        lines.append(f"image id:  {report.image_id}")
    if report.size_mb is not None:
        budget = f" (budget {report.size_budget_mb:g} MB)" if report.size_budget_mb else ""
        lines.append(f"size:      {report.size_mb:.1f} MB{budget}")
    if report.build_seconds is not None:
        lines.append(f"built in:  {report.build_seconds:.1f}s with {report.builder}")
    lines.append("tags:      " + ", ".join(report.tags))
    if report.digest:
        lines.append(f"digest:    {report.digest}")
    if len(report.platforms) > 1 or report.attestations:
        lines.extend(
            f"  {entry.platform}: {entry.digest} ({entry.size_mb:.1f} MB compressed)"
            for entry in report.platforms
        )
    lines.extend(f"note: {note}" for note in report.notes)
    if report.largest_layers:
        lines.append("largest layers:")
        lines.extend(
            f"  {layer.size_mb:8.1f} MB  {layer.created_by}" for layer in report.largest_layers
        )
    return "\n".join(lines)


def render_markdown(report: BuildPushReport, passed: bool, headline: str) -> str:
    """The step summary: status line, facts table, collapsible details."""
    rows = [("image", f"`{report.image}`"), ("version", f"`{report.version}`")]
    rows.append(("tags", "<br>".join(f"`{tag}`" for tag in report.tags)))
    if report.digest:
        rows.append(("digest", f"`{report.digest}`"))
    if len(report.platforms) > 1 or report.attestations:
        rows.append(
            (
                "platforms",
                "<br>".join(
                    f"{entry.platform} `{entry.digest}` {entry.size_mb:.1f} MB"
                    for entry in report.platforms
                ),
            )
        )
    if report.attestations:
        rows.append(("attestations", str(report.attestations)))
    if report.size_mb is not None:
        budget = f" (budget {report.size_budget_mb:g} MB)" if report.size_budget_mb else ""
        rows.append(("size", f"{report.size_mb:.1f} MB{budget}"))
    if report.build_seconds is not None:
        rows.append(
            ("build", f"{report.build_seconds:.1f}s, {report.builder}, cache {report.cache}")
        )
    rows.append(("pushed", "yes" if report.pushed else "no"))
    details: list[str] = []
    if report.policy:
        findings = "\n".join(
            f"| {f.level} | {f.rule} | {f.line or ''} | {markdown_cell(f.message)} |"
            for f in report.policy
        )
        details.append(
            "<details><summary>Dockerfile policy</summary>\n\n| level | rule | line | finding |"
            f"\n|---|---|---|---|\n{findings}\n\n</details>"
        )
    if report.largest_layers:
        layers = "\n".join(
            f"| {layer.size_mb:.1f} MB | `{markdown_cell(layer.created_by)}` |"
            for layer in report.largest_layers
        )
        details.append(
            "<details><summary>Largest layers</summary>\n\n| size | created by |\n|---|---|\n"
            f"{layers}\n\n</details>"
        )
    if report.notes:
        details.append("\n".join(f"- {note}" for note in report.notes))
    return summary_from_template(
        "fastapi_ci.build_push",
        {
            "status_icon": "✅" if passed else "❌",
            "headline": headline,
            "rows": "\n".join(f"| {name} | {value} |" for name, value in rows),
            "details": "\n\n".join(details),
        },
    )
