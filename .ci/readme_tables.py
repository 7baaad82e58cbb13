"""Keep the docs' generated tables identical to the action.yml and workflow files.

    uv run python .ci/readme_tables.py          # rewrite the tables in every page
    uv run python .ci/readme_tables.py --check  # exit 1 if they have drifted (the tests run this)

The pages are README.md, CONTRIBUTING.md and docs/**/*.md (or the PAGES given). An action's
Inputs and Outputs tables sit between `<!-- action-tables: NAME -->` and
`<!-- /action-tables: NAME -->` (from `actions/NAME/action.yml`; in docs/actions/NAME.md); a
reusable workflow's Inputs, Secrets and Outputs tables between `<!-- workflow-tables: NAME -->`
and `<!-- /workflow-tables: NAME -->` (from the `on.workflow_call` of
`.github/workflows/NAME.yml`; in docs/workflows/NAME.md).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pages() -> list[Path]:
    """Every page of the documentation: the README, CONTRIBUTING.md and docs/**/*.md."""
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]


BLOCK = re.compile(
    r"(<!-- (?P<kind>action|workflow)-tables: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)"
    r"(?P<end><!-- /(?P=kind)-tables: (?P=name) -->)",
    re.S,
)


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _default(value: object) -> str:
    """A default as the file spells it (`false`, not Python's `False`); '' shows nothing."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"`{_cell(value)}`"


def _load(path: Path) -> dict[Any, Any]:
    try:
        loaded: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        where = path.relative_to(ROOT)
        raise SystemExit(f"the docs have tables for {where}, which does not exist") from None
    return loaded


def workflow_call(workflow: str) -> dict[str, Any]:
    """The `on.workflow_call` section of `.github/workflows/<workflow>.yml`.

    YAML 1.1 reads the key `on` as the boolean True, so PyYAML files it under True.
    """
    metadata = _load(ROOT / ".github" / "workflows" / f"{workflow}.yml")
    triggers = metadata.get("on", metadata.get(True))
    call = triggers.get("workflow_call") if isinstance(triggers, dict) else None
    if not isinstance(call, dict):
        raise SystemExit(f".github/workflows/{workflow}.yml is not a reusable workflow")
    return call


def render_action_tables(action: str) -> str:
    """The Inputs and Outputs tables of `actions/<action>/action.yml`, as markdown."""
    metadata = _load(ROOT / "actions" / action / "action.yml")
    lines = ["| Input | Required | Default | Description |", "|---|---|---|---|"]
    for name, spec in (metadata.get("inputs") or {}).items():
        required = "yes" if spec.get("required") else "no"
        default = _default(spec.get("default", ""))
        lines.append(_row(f"`{name}`", required, default, _cell(spec.get("description", ""))))
    lines += ["", "| Output | Description |", "|---|---|"]
    for name, spec in (metadata.get("outputs") or {}).items():
        lines.append(_row(f"`{name}`", _cell(spec.get("description", ""))))
    return "\n".join(lines) + "\n"


def render_workflow_tables(workflow: str) -> str:
    """The Inputs, Secrets and Outputs tables of a reusable workflow, as markdown."""
    call = workflow_call(workflow)
    lines = ["| Input | Type | Required | Default | Description |", "|---|---|---|---|---|"]
    for name, spec in (call.get("inputs") or {}).items():
        required = "yes" if spec.get("required") else "no"
        default = _default(spec.get("default", ""))
        description = _cell(spec.get("description", ""))
        lines.append(_row(f"`{name}`", spec.get("type", ""), required, default, description))
    if call.get("secrets"):
        lines += ["", "| Secret | Required | Description |", "|---|---|---|"]
        for name, spec in call["secrets"].items():
            spec = spec or {}  # a secret may be declared with no keys at all
            required = "yes" if spec.get("required") else "no"
            lines.append(_row(f"`{name}`", required, _cell(spec.get("description", ""))))
    if call.get("outputs"):
        lines += ["", "| Output | Description |", "|---|---|"]
        for name, spec in call["outputs"].items():
            lines.append(_row(f"`{name}`", _cell(spec.get("description", ""))))
    return "\n".join(lines) + "\n"


def render(match: re.Match[str]) -> str:
    name = match.group("name")
    body = render_action_tables(name) if match["kind"] == "action" else render_workflow_tables(name)
    return match.group(1) + body + match.group("end")


def regenerate(text: str) -> str:
    """The page with every marked block replaced by freshly rendered tables."""
    return BLOCK.sub(render, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail instead of rewriting")
    parser.add_argument(
        "pages", nargs="*", type=Path, help="default: README.md, CONTRIBUTING.md, docs/**/*.md"
    )
    args = parser.parse_args()
    drifted = []
    for page in args.pages or pages():
        current = page.read_text(encoding="utf-8")
        fresh = regenerate(current)
        if fresh == current:
            continue
        if args.check:
            drifted.append(page)
        else:
            page.write_text(fresh, encoding="utf-8")
    for page in drifted:
        where = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page
        print(f"{where}: the generated tables are out of date: run python .ci/readme_tables.py")
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
