"""Step summaries rendered from templates shipped in the package.

Each action keeps the words of its summary in `<its package>/templates/*.md`, with
`string.Template` placeholders (`$headline`); the code computes only the values (rows,
tables, lists). A template is rendered exactly as written, its final newline included.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from string import Template

TEMPLATES = "templates"


def summary_from_template(
    package: str, values: Mapping[str, object], template: str = "summary.md"
) -> str:
    """`package`'s template with these values (a placeholder without a value is an error)."""
    text = files(package).joinpath(f"{TEMPLATES}/{template}").read_text("utf-8")
    return Template(text).substitute({name: str(value) for name, value in values.items()})
