"""Imports run one way: no module under scripts/fastapi_ci imports from a layer above its own.

The layers, bottom to top: the base (I/O, errors, retries, the OpenAPI document, shared
helpers), the clients of outside systems (`clients`), one package per action (which never
imports another action's package; an action's adapters live inside it, as rollout's
`backends/` and migrate-once's `runners/`), the compositions, and the command line on top.
Imports are read from the source (every `import`, also those inside functions or under
TYPE_CHECKING), so a lazy import is no way around it.

Why a layer of compositions, rather than moving what they share down: verify is the step
after a rollout, and it rolls back with rollout's own backends, policy and inputs (the
backend interface, the adapters, `roll_back`, `ServiceInputs`): moved below the actions,
that would be most of rollout, leaving the package `rollout` a shell. init is the adoption
command: its job is to run other actions' checks (build-push's Dockerfile policy,
schema-export) on what it writes. Both build on other actions, and no action builds on
them, so the arrow runs one way. They use only what an action's package exports (its
`__init__`, whose `__all__` names it), never its modules: an action may rearrange its
insides without breaking them. What two actions share that is neither (reading an OpenAPI
document: schema-guard, verify, init) goes into the base.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.components import REPO_ROOT

PACKAGE_ROOT = REPO_ROOT / "scripts"

# Each top-level module or package of fastapi_ci, by layer (lowest first). A new one must be
# put in a layer here before its imports can be checked.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "base",
        frozenset(
            {
                "__init__",  # the package itself: its docstring, nothing imported
                "action_io",
                "step_summary",
                "cancellation",
                "errors",
                "input_files",
                "migration_lock",
                "openapi_document",
                "project_python",
                "retry",
            }
        ),
    ),
    ("clients", frozenset({"clients"})),
    (
        "actions",
        frozenset(
            {
                "build_push",
                "migrate_once",
                "quality_gate",
                "rollout",
                "schema_guard",
            }
        ),
    ),
    # Actions built on other actions' public API: see the docstring for why.
    ("compositions", frozenset({"init", "verify"})),
    ("cli", frozenset({"__main__", "cli"})),
)
# Layers whose members never import each other.
SIDEWAYS_FORBIDDEN = frozenset({"actions", "compositions"})
COMPOSITIONS_LAYER = "compositions"
ACTIONS_LAYER = "actions"


def layer_of(top_level: str) -> tuple[int, str]:
    """The layer (its rank and name) of a top-level module or package of fastapi_ci."""
    for rank, (name, members) in enumerate(LAYERS):
        if top_level in members:
            return rank, name
    raise AssertionError(f"fastapi_ci.{top_level} is in no layer: add it to LAYERS")


def module_name(path: Path) -> str:
    """`fastapi_ci.quality_gate.checks` for scripts/fastapi_ci/quality_gate/checks/__init__.py."""
    parts = list(path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def is_module(name: str) -> bool:
    """True when `name` (fastapi_ci.x.y) is a module or package in the source tree."""
    path = PACKAGE_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> Iterator[str]:
    """The absolute names of the fastapi_ci modules `path` imports (relative ones resolved;
    `from package import module` is the module)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], node.module or ""])
            else:
                base = node.module or ""
            base = base.rstrip(".")
            names = [
                f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base
                for alias in node.names
            ]
        else:
            continue
        yield from (name for name in names if name.split(".")[0] == "fastapi_ci")


def top_level(module: str) -> str:
    """`quality_gate` for fastapi_ci.quality_gate.checks; `__init__` for fastapi_ci itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_against_the_rule() -> set[tuple[str, str]]:
    """(importing module, imported top-level package) for every import that goes up a
    layer, from one action's (or composition's) package into another's, or from a
    composition into an action's module rather than its package."""
    found = set()
    for path in sorted((PACKAGE_ROOT / "fastapi_ci").rglob("*.py")):
        importer = module_name(path)
        own = top_level(importer)
        own_rank, own_layer = layer_of(own)
        for imported in imported_modules(path):
            other = top_level(imported)
            rank, other_layer = layer_of(other)
            upward = rank > own_rank
            sideways = rank == own_rank and own_layer in SIDEWAYS_FORBIDDEN and other != own
            past_the_api = (
                own_layer == COMPOSITIONS_LAYER
                and other_layer == ACTIONS_LAYER
                and imported != f"fastapi_ci.{other}"
            )
            if upward or sideways or past_the_api:
                found.add((importer, other))
    return found


def test_no_module_imports_from_a_layer_above_or_another_action() -> None:
    found = imports_against_the_rule()
    assert not found, (
        "imports against the layering rule (see LAYERS; move what both need below them): "
        + ", ".join(f"{importer} -> fastapi_ci.{package}" for importer, package in sorted(found))
    )


# Inside quality_gate, the same rule (#19: "checks.py split by job"), by the first name under
# fastapi_ci.quality_gate ("" is the package itself: the action's entry point).
QUALITY_GATE_LAYERS: tuple[frozenset[str], ...] = (
    # The project, its pins, its tools and their output: read by everything above.
    frozenset({"locks", "parsers", "project", "ruff_config", "tools"}),
    frozenset({"scheduler"}),  # the CPU scheduler: process slots, priority beside the tests
    frozenset({"context"}),  # what every check knows
    frozenset({"runner"}),  # one tool process, in a slot, with its check's timeout
    frozenset({"sharding"}),  # the suite over several pytest processes
    frozenset({"checks"}),  # one object per check behind `checks.interface.Check`
    frozenset({"gate"}),  # the run loop
    frozenset({"summary"}),  # how the results read
    frozenset({""}),
)


def quality_gate_imports_going_up() -> set[tuple[str, str]]:
    """(importing module, imported module) inside quality_gate, where the imported one's
    layer is above the importer's."""

    def rank(module: str) -> int:
        part = module.removeprefix("fastapi_ci.quality_gate").lstrip(".").split(".")[0]
        ranks = [index for index, layer in enumerate(QUALITY_GATE_LAYERS) if part in layer]
        assert ranks, f"fastapi_ci.quality_gate.{part} is in no layer: add it"
        return ranks[0]

    found = set()
    for path in sorted((PACKAGE_ROOT / "fastapi_ci" / "quality_gate").rglob("*.py")):
        importer = module_name(path)
        for imported in imported_modules(path):
            inside = imported == "fastapi_ci.quality_gate" or imported.startswith(
                "fastapi_ci.quality_gate."
            )
            if inside and rank(imported) > rank(importer):
                found.add((importer, imported))
    return found


def test_inside_the_quality_gate_the_run_loop_imports_the_checks_and_they_the_runner() -> None:
    assert not quality_gate_imports_going_up(), "see QUALITY_GATE_LAYERS"


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        pytest.param(
            "clients/kubernetes.py",
            "from fastapi_ci.rollout.backend import Observation\n",
            {("fastapi_ci.clients.kubernetes", "rollout")},
            id="a-client-importing-an-action",
        ),
        pytest.param(
            "clients/kubernetes.py",
            "def lazy() -> None:\n    import fastapi_ci.cli\n",
            {("fastapi_ci.clients.kubernetes", "cli")},
            id="a-lazy-import-of-the-cli",
        ),
        pytest.param(
            "quality_gate/checks/__init__.py",
            "from ...schema_guard import document\n",
            {("fastapi_ci.quality_gate.checks", "schema_guard")},
            id="a-relative-import-of-another-action",
        ),
        pytest.param(
            "clients/kubernetes.py",
            "from fastapi_ci.retry import retry\nfrom . import registry\n",
            set(),
            id="a-client-using-the-base-and-its-own-package",
        ),
        pytest.param(
            "rollout/__init__.py",
            "from fastapi_ci.verify import VERIFY\n",
            {("fastapi_ci.rollout", "verify")},
            id="an-action-importing-a-composition",
        ),
        pytest.param(
            "verify/__init__.py",
            "from fastapi_ci.init import INIT\n",
            {("fastapi_ci.verify", "init")},
            id="a-composition-importing-another",
        ),
        pytest.param(
            "verify/__init__.py",
            "from fastapi_ci.rollout.stable import roll_back\n",
            {("fastapi_ci.verify", "rollout")},
            id="a-composition-reaching-past-an-actions-package",
        ),
        pytest.param(
            "verify/__init__.py",
            "from fastapi_ci.rollout import roll_back\nfrom fastapi_ci.clients import ecs\n",
            set(),
            id="a-composition-using-an-actions-package-and-a-client",
        ),
    ],
)
def test_the_rule_sees_imports_that_go_up_or_sideways(
    module: str,
    source: str,
    expected: set[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "fastapi_ci" / module
    path.parent.mkdir(parents=True)
    path.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_ROOT", tmp_path)
    assert imports_against_the_rule() == expected
