"""Keep the README's per-action Inputs and Outputs tables identical to the action.yml files.

    uv run python .ci/readme_tables.py          # rewrite the tables in README.md
    uv run python .ci/readme_tables.py --check  # exit 1 if they have drifted (the tests run this)

Each table sits between `<!-- action-tables: NAME -->` and `<!-- /action-tables: NAME -->`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(
    r"(<!-- action-tables: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)"
    r"(<!-- /action-tables: (?P=name) -->)",
    re.S,
)


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_tables(action: str) -> str:
    """The Inputs and Outputs tables of `actions/<action>/action.yml`, as markdown."""
    metadata: dict[str, Any] = yaml.safe_load(
        (ROOT / "actions" / action / "action.yml").read_text()
    )
    lines = ["| Input | Required | Default | Description |", "|---|---|---|---|"]
    for name, spec in metadata.get("inputs", {}).items():
        required = "yes" if spec.get("required") else "no"
        default = spec.get("default", "")
        shown = f"`{_cell(default)}`" if default != "" else ""
        lines.append(f"| `{name}` | {required} | {shown} | {_cell(spec.get('description', ''))} |")
    lines += ["", "| Output | Description |", "|---|---|"]
    for name, spec in metadata.get("outputs", {}).items():
        lines.append(f"| `{name}` | {_cell(spec.get('description', ''))} |")
    return "\n".join(lines) + "\n"


def regenerate(text: str) -> str:
    """The README with every marked block replaced by freshly rendered tables."""
    return BLOCK.sub(lambda m: m.group(1) + render_tables(m.group("name")) + m.group(4), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail instead of rewriting")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    fresh = regenerate(current)
    if args.check:
        if fresh != current:
            print("README.md action tables are out of date: run python .ci/readme_tables.py")
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
