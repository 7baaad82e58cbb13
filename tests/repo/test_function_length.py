"""No function in the package is longer than a reader can hold, unless it says why.

A body over `MAX_BODY_LINES` lines needs a `# long: <reason>` comment on the line before its
`def` (or its first decorator) or on the first line of its body: a flat table of rules may
read best in one piece; a procedure reads best as named steps.
"""

from __future__ import annotations

import ast
import re

from tests.support.components import REPO_ROOT

PACKAGE = REPO_ROOT / "scripts" / "fastapi_ci"
MAX_BODY_LINES = 80
LONG_REASON = re.compile(r"#\s*long:\s*\S")

Function = ast.FunctionDef | ast.AsyncFunctionDef


def body_lines(function: Function) -> int:
    """Lines from the first statement of the body (docstring included) to the last."""
    return (function.end_lineno or function.lineno) - function.body[0].lineno + 1


def has_reason(function: Function, lines: list[str]) -> bool:
    """A `# long: <reason>` comment just above the def or on the body's first line."""
    first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
    above = lines[first - 2] if first >= 2 else ""
    opening = lines[function.body[0].lineno - 1]
    return bool(LONG_REASON.search(above) or LONG_REASON.search(opening))


def long_functions(source: str, name: str) -> list[str]:
    """`name:line function (N lines)` for each function over the limit without a reason."""
    lines = source.splitlines()
    return [
        f"{name}:{node.lineno} {node.name} ({body_lines(node)} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and body_lines(node) > MAX_BODY_LINES
        and not has_reason(node, lines)
    ]


def test_no_function_is_over_the_limit_without_a_reason() -> None:
    found = [
        problem
        for path in sorted(PACKAGE.rglob("*.py"))
        for problem in long_functions(
            path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT))
        )
    ]
    assert not found, "split these into named steps, or say why not (# long: ...):\n" + (
        "\n".join(found)
    )


def test_a_long_function_is_found_and_a_reason_excuses_it() -> None:
    body = "".join(f"    x{n} = {n}\n" for n in range(MAX_BODY_LINES + 1))
    assert long_functions(f"def f() -> None:\n{body}", "m.py") == [
        f"m.py:1 f ({MAX_BODY_LINES + 1} lines)"
    ]
    assert long_functions(f"# long: a flat table of rules\ndef f() -> None:\n{body}", "m.py") == []
    short = "".join(f"    x{n} = {n}\n" for n in range(MAX_BODY_LINES))
    assert long_functions(f"def f() -> None:\n{short}", "m.py") == []
