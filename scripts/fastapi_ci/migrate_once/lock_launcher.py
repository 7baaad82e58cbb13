"""The command migrate-once really runs: the user's command wrapped in the lock launcher.

The launcher (`_lock_launcher.py`, with `fastapi_ci/migration_lock.py` embedded) is passed
as `python3 -c PROGRAM -- COMMAND...`: every runner (a local process, a container, a
Kubernetes Job, an ECS task) then runs the migration under the lock without fastapi-ci in
the image and without an edit to env.py. ECS allows 8192 characters of overrides in all, so
the program travels compressed: docstrings and comments dropped (`ast.unparse`, the code
unchanged), zlib, base64 (decode it with `base64 -d | zlib-flate -uncompress`). About 5.5 kB.
"""

from __future__ import annotations

import ast
import base64
import zlib
from functools import cache
from pathlib import Path

__all__ = ["launcher_command", "launcher_program"]

_LAUNCHER = Path(__file__).with_name("_lock_launcher.py")
_MIGRATION_LOCK = Path(__file__).parent.parent / "migration_lock.py"


def _without_docstrings(source: str) -> ast.Module:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


@cache
def launcher_program() -> str:
    """The launcher's source, compact, with migration_lock.py's source in it."""
    lock_source = ast.unparse(_without_docstrings(_MIGRATION_LOCK.read_text(encoding="utf-8")))
    tree = _without_docstrings(_LAUNCHER.read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "MIGRATION_LOCK_SOURCE"
        ):
            node.value = ast.Constant(lock_source)
    return ast.unparse(tree)


@cache
def launcher_bootstrap() -> str:
    """The `-c` argument: decompress the launcher and run it (itself re-runs this text)."""
    packed = base64.b64encode(zlib.compress(launcher_program().encode(), 9)).decode()
    return f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{packed}')))"


def launcher_command(command: list[str], python: str) -> list[str]:
    """`command` run by `python` under the launcher (it re-executes with the command's Python)."""
    return [python, "-c", launcher_bootstrap(), "--", *command]
