"""The errors every action raises, and the exit code each one means.

`fastapi_ci.action_io.run_action` catches these and reports them the same way for every
action: one `::error::` line, the long diagnostics in the step summary, and the exit code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


# The docs pages an error can point to (`docs="rollout#rollout"`): one per action (migration-lint
# is migrate-once's), the actions' shared page, one per reusable workflow, and the README.
ACTION_PAGES = (
    "quality-gate",
    "schema-guard",
    "build-push",
    "migrate-once",
    "rollout",
    "wait-stable",
    "verify",
)
WORKFLOW_PAGES = ("ci", "deploy")
# The one mapping from docs page to file (docs/, whose pages keep README's old headings).
DOCS_FILES = {
    **{page: f"docs/actions/{page}.md" for page in ACTION_PAGES},
    "actions": "docs/actions/README.md",
    **{page: f"docs/workflows/{page}.md" for page in WORKFLOW_PAGES},
    "readme": "README.md",  # init's section
}


def docs_link(docs: str, env: Mapping[str, str]) -> str:
    """`page#anchor` as a link the reader can follow.

    An absolute link to the action's own repository at the action's ref, so the docs match
    the code that raised the error, not the default branch. The runner names both in
    `GITHUB_ACTION_REPOSITORY`/`GITHUB_ACTION_REF`, except in a composite action's `run:`
    steps, where they are empty (actions/runner#2473); there `GITHUB_ACTION_PATH` holds them
    (see action_checkout). Else (a laptop, a local `uses: ./actions/...`) a path relative to
    the repository root: a guessed owner or `main` could point at docs of another version.
    """
    page, _, anchor = docs.partition("#")
    target = DOCS_FILES[page] + (f"#{anchor}" if anchor else "")
    repository = env.get("GITHUB_ACTION_REPOSITORY", "")
    ref = env.get("GITHUB_ACTION_REF", "")
    if not (repository and ref):
        repository, ref = action_checkout(env.get("GITHUB_ACTION_PATH", ""))
    if repository and ref:
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        return f"{server}/{repository}/blob/{ref}/{target}"
    return target


def action_checkout(action_path: str) -> tuple[str, str]:
    """(owner/repo, ref) of a remote action from where the runner checked it out, else ("", "").

    The runner checks `uses: OWNER/REPO/actions/NAME@REF` out at
    `.../_actions/OWNER/REPO/REF/actions/NAME`. A ref may hold slashes, so it is what lies
    between the repository and our own `actions/NAME`, the one part of the path we fix.
    """
    parts = PurePosixPath(action_path).parts
    if "_actions" not in parts:
        return "", ""
    after = parts[len(parts) - parts[::-1].index("_actions") :]
    if len(after) < 5 or after[-2] != "actions":
        return "", ""
    owner, repo, *ref, _actions_dir, _name = after
    return f"{owner}/{repo}", "/".join(ref)


def explanation(why: str, fix: str, docs: str, env: Mapping[str, str]) -> list[str]:
    """The step summary's paragraphs after what failed: why, how to fix it, the docs link.

    Also for a failed check reported as a result rather than an error (a Dockerfile policy
    with errors still writes its report and annotations).
    """
    parts = []
    if why:
        parts.append(f"Why: {why}")
    if fix:
        parts.append(f"How to fix: {fix}")
    if docs:
        parts.append(f"Docs: [{docs}]({docs_link(docs, env)})")
    return parts


class FastapiCiError(Exception):
    """Base of every error an action reports to its user (never shown as a traceback).

    `message` says what failed; `why` the reason the rule exists, from the user's side;
    `fix` what to do; `docs` the section that explains it (`page#anchor`, see DOCS_FILES).
    """

    exit_code = EXIT_CHECK_FAILED

    def __init__(self, message: str, *, why: str = "", fix: str = "", docs: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.why = why
        self.fix = fix
        self.docs = docs

    def diagnostics(self, env: Mapping[str, str] | None = None) -> str:
        """The long form for the step summary: what failed, why, how to fix it, and where
        the docs explain it (a link built from `env`, see docs_link)."""
        return "\n\n".join([self.message, *explanation(self.why, self.fix, self.docs, env or {})])


class InputError(FastapiCiError):
    """An input (flag or `FASTAPI_CI_*` variable, or a file it names) is invalid.

    `input_name` is the kebab-case input name as the user wrote it in `with:` or on the CLI.
    `related` names the other inputs a rule between inputs read (`health-url` needs
    `service-url`): when one of them is invalid itself, the rule's error is left out.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        input_name: str,
        message: str,
        *,
        why: str = "",
        fix: str = "",
        docs: str = "",
        related: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"input '{input_name}': {message}", why=why, fix=fix, docs=docs)
        self.input_name = input_name
        self.related = related


class InvalidInputs(FastapiCiError):
    """Several inputs are invalid at once: all are reported, not only the first."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, errors: list[InputError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors

    def diagnostics(self, env: Mapping[str, str] | None = None) -> str:
        """Each input's diagnostics, one after the other."""
        return "\n\n---\n\n".join(error.diagnostics(env) for error in self.errors)


class CheckFailed(FastapiCiError):
    """The gate is closed: the check ran and found a problem (lint errors, breaking change, ...)."""

    exit_code = EXIT_CHECK_FAILED
