"""The docs document every action and workflow, and their examples call them correctly.

Each action has its page, docs/actions/NAME.md, and each reusable workflow
docs/workflows/NAME.md; their inputs/secrets/outputs tables are generated from the action.yml
and workflow files (`.ci/readme_tables.py`). Every ```yaml example of the README,
CONTRIBUTING.md and docs/**/*.md that uses `fastapi-ci/fastapi-ci/...` is checked against the
real file it calls: each input and secret declared, with the right type, every required input
given, and the permissions a called workflow's jobs ask for granted (GitHub refuses to start the
run otherwise).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.components import REPO_ROOT
from tests.support.docs import doc_pages, relative_name

README = REPO_ROOT / "README.md"
ACTION_PAGES = REPO_ROOT / "docs" / "actions"
WORKFLOW_PAGES = REPO_ROOT / "docs" / "workflows"
TABLES_SCRIPT = REPO_ROOT / ".ci" / "readme_tables.py"
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
LIBRARY = "fastapi-ci/fastapi-ci/"
WORKFLOW_USE = re.compile(r"^fastapi-ci/fastapi-ci/\.github/workflows/([\w.-]+)\.yml@[\w.-]+$")
ACTION_USE = re.compile(r"^fastapi-ci/fastapi-ci/actions/([\w.-]+)@[\w.-]+$")
EXPRESSION = re.compile(r"^\$\{\{.*\}\}$", re.DOTALL)
LEVELS = {"none": 0, "read": 1, "write": 2}
LEVEL_NAMES = {level: name for name, level in LEVELS.items()}


def load_yaml(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def triggers(workflow: dict[Any, Any]) -> Any:
    """`on:`, which YAML 1.1 (PyYAML) reads as the boolean key True."""
    return workflow.get("on", workflow.get(True))


def reusable_workflows() -> dict[str, dict[str, Any]]:
    """name → parsed file, for each workflow of this repository that has `on: workflow_call`."""
    found = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        workflow = load_yaml(path)
        on = triggers(workflow)
        if isinstance(on, dict) and "workflow_call" in on:
            found[path.stem] = workflow
    return found


def run_check(*pages: Path) -> subprocess.CompletedProcess[str]:
    """`.ci/readme_tables.py --check` on PAGES (default: every page)."""
    return subprocess.run(
        [sys.executable, str(TABLES_SCRIPT), "--check", *map(str, pages)],
        capture_output=True,
        text=True,
        check=False,
    )


# --- generated tables ------------------------------------------------------------------


def assert_page_with_tables(page: Path, heading: str, block: str) -> None:
    """PAGE exists, is headed HEADING (its anchor, which errors and links name) and holds the
    generated BLOCK (`action-tables: verify`)."""
    where = page.relative_to(REPO_ROOT)
    assert page.is_file(), f"{where} does not exist"
    text = page.read_text()
    assert text.startswith(f"# {heading}\n"), f"{where} is not headed {heading}"
    assert f"<!-- {block} -->" in text, f"{where} has no generated tables ({block})"


def test_every_action_has_a_page_with_generated_tables() -> None:
    for action_file in sorted((REPO_ROOT / "actions").glob("*/action.yml")):
        name = action_file.parent.name
        assert_page_with_tables(ACTION_PAGES / f"{name}.md", name, f"action-tables: {name}")


def test_every_reusable_workflow_has_a_page_with_generated_tables() -> None:
    assert {"ci", "deploy"} <= set(reusable_workflows())
    for name in reusable_workflows():
        page = WORKFLOW_PAGES / f"{name}.md"
        assert_page_with_tables(page, f"{name}.yml", f"workflow-tables: {name}")


def test_the_readme_shows_the_two_commands() -> None:
    # On a fresh machine, these two do all the set-up: the main job and the tests.
    readme = README.read_text()
    assert "\n## Two commands\n" in readme
    assert "\nbash .ci/pipeline   # the main job" in readme
    assert "\nbash .ci/run        # the tests" in readme


def test_generated_tables_match_the_action_and_workflow_files() -> None:
    check = run_check()
    assert check.returncode == 0, check.stdout + check.stderr


def page_with(block: str) -> Path:
    """The page that holds the generated BLOCK (`workflow-tables: deploy`)."""
    pages = [page for page in doc_pages() if f"<!-- {block} -->" in page.read_text()]
    assert len(pages) == 1, f"{block} is in {len(pages)} pages"
    return pages[0]


def first_row_after(text: str, block: str, header: str) -> tuple[int, str]:
    """(offset, line) of the first data row under HEADER inside the marked BLOCK."""
    start = text.index(f"<!-- {block} -->")
    table = text.index(f"\n{header}", start) + 1
    assert table < text.index(f"<!-- /{block} -->"), f"no {header} table in {block}"
    row_at = text.index("\n", text.index("\n", table) + 1) + 1  # past the header and |---|
    return row_at, text[row_at : text.index("\n", row_at)]


TABLES = [
    ("workflow-tables: deploy", "| Input |"),
    ("workflow-tables: deploy", "| Secret |"),
    ("workflow-tables: ci", "| Output |"),
    ("action-tables: rollout", "| Input |"),
]
TABLE_IDS = ["deploy-inputs", "deploy-secrets", "ci-outputs", "rollout-inputs"]


@pytest.mark.parametrize(("block", "header"), TABLES, ids=TABLE_IDS)
def test_a_drifted_row_fails_the_check(tmp_path: Path, block: str, header: str) -> None:
    page = page_with(block)
    text = page.read_text()
    at, row = first_row_after(text, block, header)
    assert row.startswith("| `")
    drifted = row.removesuffix(" |") + " (edited by hand) |"
    copy = tmp_path / page.name
    copy.write_text(text[:at] + drifted + text[at + len(row) :])

    check = run_check(copy)

    assert check.returncode == 1
    assert "out of date" in check.stdout


@pytest.mark.parametrize(("block", "header"), TABLES, ids=TABLE_IDS)
def test_a_missing_row_fails_the_check(tmp_path: Path, block: str, header: str) -> None:
    page = page_with(block)
    text = page.read_text()
    at, row = first_row_after(text, block, header)
    copy = tmp_path / page.name
    copy.write_text(text[:at] + text[at + len(row) + 1 :])

    assert run_check(copy).returncode == 1


# --- the YAML examples -------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    where: str  # PAGE:LINE, where the ```yaml block starts
    document: Any


def yaml_examples() -> list[Example]:
    """Every ```yaml example of every page."""
    examples = []
    for page in doc_pages():
        text = page.read_text()
        for match in YAML_BLOCK.finditer(text):
            where = f"{relative_name(page)}:{text.count(chr(10), 0, match.start()) + 1}"
            try:
                examples.append(Example(where, yaml.safe_load(match.group(1))))
            except yaml.YAMLError as error:
                pytest.fail(f"{where}: the yaml example does not parse: {error}")
    return examples


def library_uses(node: Any) -> list[dict[str, Any]]:
    """Every mapping (a job or a step) whose `uses:` names something of fastapi-ci."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        uses = node.get("uses")
        if isinstance(uses, str) and uses.startswith(LIBRARY):
            found.append(node)
        for value in node.values():
            found += library_uses(value)
    elif isinstance(node, list):
        for item in node:
            found += library_uses(item)
    return found


def value_fits(value: Any, kind: str) -> bool:
    """Whether a `with:` value is acceptable for a workflow_call input of this type."""
    if isinstance(value, str) and EXPRESSION.match(value.strip()):
        return True  # typed by GitHub at run time
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    # A string input given 3.10 unquoted would receive "3.1": quote it.
    return isinstance(value, str)


def deploy_problems(given: dict[str, Any]) -> list[str]:
    """What deploy.yml's own steps would refuse at run time, for a literal `with:`."""
    problems = []
    target = given.get("target")
    if target not in ("kubernetes", "ecs", "swarm"):
        problems.append(f"target {target!r} is not kubernetes, ecs or swarm")
    health_url = str(given.get("health-url", "/health/ready"))
    is_path = health_url and not health_url.startswith(("http://", "https://"))
    if is_path and not given.get("service-url"):
        # deploy.yml refuses such a call in its first step (exit 2).
        problems.append("health-url is a path and service-url is not given")
    if given.get("verify", True) is not False and not given.get("service-url"):
        problems.append("verify (on by default) needs service-url")  # refused in the first step
    migrates = given.get("migrate", True) is not False
    if target == "ecs" and migrates and not given.get("task-definition"):
        # migrate-once's ecs runner needs it; deploy.yml refuses the call without it.
        problems.append("target ecs migrates with a task-definition, which is not given")
    if (target == "ecs" or given.get("ecr") is True) and not (
        given.get("aws-role-to-assume") and given.get("aws-region")
    ):
        problems.append("AWS (ecs target or ecr) needs aws-role-to-assume and aws-region")
    return problems


def workflow_call_problems(job: dict[str, Any], name: str) -> list[str]:
    path = WORKFLOWS / f"{name}.yml"
    if not path.is_file():
        return [f"calls .github/workflows/{name}.yml, which does not exist"]
    call = triggers(load_yaml(path))["workflow_call"]
    inputs: dict[str, Any] = call.get("inputs") or {}
    secrets: dict[str, Any] = call.get("secrets") or {}
    given: dict[str, Any] = job.get("with") or {}
    problems = []
    for key, value in given.items():
        if key not in inputs:
            problems.append(f"with: {key} is not an input of {name}.yml")
        elif not value_fits(value, inputs[key]["type"]):
            problems.append(f"with: {key}: {value!r} is not a {inputs[key]['type']}")
    for key, spec in inputs.items():
        if spec.get("required") and key not in given:
            problems.append(f"the required input {key} of {name}.yml is not given")
    passed = job.get("secrets") or {}
    if passed != "inherit":
        for key in passed:
            if key not in secrets:
                problems.append(f"secrets: {key} is not a secret of {name}.yml")
        for key, spec in secrets.items():
            if (spec or {}).get("required") and key not in passed:
                problems.append(f"the required secret {key} of {name}.yml is not passed")
    if name == "deploy":
        problems += deploy_problems(given)
    return problems


def action_use_problems(step: dict[str, Any], name: str) -> list[str]:
    path = REPO_ROOT / "actions" / name / "action.yml"
    if not path.is_file():
        return [f"uses actions/{name}, which does not exist"]
    inputs: dict[str, Any] = load_yaml(path).get("inputs") or {}
    given: dict[str, Any] = step.get("with") or {}
    problems = [f"with: {key} is not an input of {name}" for key in given if key not in inputs]
    problems += [
        f"the required input {key} of {name} is not given"
        for key, spec in inputs.items()
        if spec.get("required") and key not in given
    ]
    return problems


def example_calls() -> list[tuple[Example, dict[str, Any]]]:
    return [(ex, node) for ex in yaml_examples() for node in library_uses(ex.document)]


def test_every_example_calls_a_workflow_or_action_with_its_declared_inputs() -> None:
    problems = []
    for example, node in example_calls():
        uses = node["uses"]
        if workflow := WORKFLOW_USE.match(uses):
            found = workflow_call_problems(node, workflow.group(1))
        elif action := ACTION_USE.match(uses):
            found = action_use_problems(node, action.group(1))
        else:
            found = ["is neither .github/workflows/NAME.yml@REF nor actions/NAME@REF"]
        problems += [f"{example.where}: {uses}: {problem}" for problem in found]
    assert not problems, "\n".join(problems)


def test_the_examples_cover_every_target_and_every_action_composition() -> None:
    targets = set()
    called = set()
    for _example, node in example_calls():
        if workflow := WORKFLOW_USE.match(node["uses"]):
            called.add(workflow.group(1) + ".yml")
            if workflow.group(1) == "deploy":
                targets.add((node.get("with") or {}).get("target"))
        elif action := ACTION_USE.match(node["uses"]):
            called.add(action.group(1))
    assert {"kubernetes", "ecs", "swarm"} <= targets
    assert {"ci.yml", "deploy.yml", "schema-guard"} <= called


def requested_permissions(workflow: dict[str, Any]) -> dict[str, int]:
    """The most each permission is asked for by the jobs of a called workflow."""
    requested: dict[str, int] = {}
    for job in workflow["jobs"].values():
        permissions = job.get("permissions", workflow.get("permissions")) or {}
        for scope, level in expand(permissions).items():
            requested[scope] = max(requested.get(scope, 0), level)
    return requested


def expand(permissions: dict[str, str] | str) -> dict[str, int]:
    if isinstance(permissions, str):  # read-all / write-all
        level = LEVELS[permissions.removesuffix("-all")]
        return {scope: level for scope in ("contents", "packages", "id-token", "actions")}
    return {scope: LEVELS[level] for scope, level in permissions.items()}


def test_every_caller_grants_the_permissions_the_called_workflow_asks_for() -> None:
    problems = []
    for example in yaml_examples():
        document = example.document
        if not isinstance(document, dict) or not isinstance(document.get("jobs"), dict):
            continue
        for job_id, job in document["jobs"].items():
            workflow = WORKFLOW_USE.match(str(job.get("uses", "")))
            if not workflow:
                continue
            granted = job.get("permissions", document.get("permissions"))
            if granted is None:
                problems.append(f"{example.where}: job {job_id} grants no permissions")
                continue
            have = expand(granted)
            for scope, level in requested_permissions(
                load_yaml(WORKFLOWS / f"{workflow.group(1)}.yml")
            ).items():
                if have.get(scope, 0) < level:
                    problems.append(
                        f"{example.where}: job {job_id} must grant {scope}: {LEVEL_NAMES[level]}"
                    )
    assert not problems, "\n".join(problems)


def test_examples_name_the_library_by_its_repository() -> None:
    for page in doc_pages():
        assert "OWNER/" not in page.read_text(), relative_name(page)
