"""Publish release vX.Y.Z of fastapi-ci and move vX to it.

    python .ci/release.py 1.4.0 [--repository OWNER/NAME] [--push REMOTE]

On main, the reusable workflows call the library's actions (and ci.yml) at `@main`, so a
change to a workflow and to an action it calls land together. A caller, though, writes
`deploy.yml@v1` and must get the actions of v1, not of today's main. So a release does not
tag main's commit S itself. It makes two commits on top of S and tags the second:

  R1: every `fastapi-ci/fastapi-ci/actions/...@main` in .github/workflows/ becomes
      `OWNER/NAME/actions/...@S`, the full hash of S, whose actions are byte-identical;
  R2: every `fastapi-ci/fastapi-ci/.github/workflows/...@main` (deploy.yml calls ci.yml)
      becomes `...@R1`, whose workflows already call the actions of S.

deploy.yml@v1, @v1.4.0 and @R2 then all run exactly the actions of v1.4.0, pinned by hash;
tags can move, commits cannot. (A commit cannot name its own hash, hence two.)

Refuses, with exit code 2 and nothing changed: a version that is not X.Y.Z, one that
pyproject.toml does not declare (the version is part of the released code), an existing
tag, a dirty working tree.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LIBRARY = "fastapi-ci/fastapi-ci"
VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
# uses: fastapi-ci/fastapi-ci/actions/quality-gate@main
ACTION_REFERENCE = re.compile(
    r"(?P<prefix>uses:\s*)" + re.escape(LIBRARY) + r"(?P<path>/actions/[\w.-]+)@main\b"
)
# uses: fastapi-ci/fastapi-ci/.github/workflows/ci.yml@main
WORKFLOW_REFERENCE = re.compile(
    r"(?P<prefix>uses:\s*)" + re.escape(LIBRARY) + r"(?P<path>/\.github/workflows/[\w.-]+)@main\b"
)
RELEASE_IDENTITY = [
    "-c",
    "user.name=fastapi-ci release",
    "-c",
    "user.email=release@fastapi-ci.invalid",
]


class ReleaseError(Exception):
    """Bad input or state: nothing was changed."""


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if completed.returncode != 0:
        raise subprocess.CalledProcessError(
            completed.returncode, completed.args, completed.stdout, completed.stderr
        )
    return completed.stdout.strip()


def pin(pattern: re.Pattern[str], text: str, repository: str, commit: str) -> tuple[str, int]:
    """Each reference PATTERN matches → REPOSITORY/PATH@COMMIT; (new text, how many)."""
    return pattern.subn(
        lambda match: f"{match['prefix']}{repository}{match['path']}@{commit}", text
    )


def declared_version(repo: Path, commit: str) -> str:
    pyproject = git(repo, "show", f"{commit}:pyproject.toml")
    match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject, re.MULTILINE)
    return match[1] if match else ""


def check_release(repo: Path, version: str) -> str:
    """The commit to release (HEAD), once everything that would refuse it is ruled out."""
    if not VERSION.match(version):
        raise ReleaseError(f"version: expected X.Y.Z (for example 1.4.0), got {version!r}")
    if git(repo, "status", "--porcelain", "--untracked-files=no"):
        raise ReleaseError("the working tree has uncommitted changes: release a commit")
    head = git(repo, "rev-parse", "HEAD")
    declared = declared_version(repo, head)
    if declared != version:
        raise ReleaseError(
            f"version: pyproject.toml at {head[:12]} declares {declared!r}, not {version!r}"
            " (bump it on main first)"
        )
    if git(repo, "tag", "--list", f"v{version}"):
        raise ReleaseError(f"version: tag v{version} exists already (a release never moves)")
    return head


def commit_pinned(
    worktree: Path, pattern: re.Pattern[str], repository: str, target: str, message: str
) -> str | None:
    """Pin what PATTERN matches in the workflows to TARGET and commit; the new hash, or
    None when there was nothing to pin."""
    pinned = 0
    for workflow in sorted((worktree / ".github" / "workflows").glob("*.yml")):
        text, count = pin(pattern, workflow.read_text(), repository, target)
        if count:
            workflow.write_text(text)
            pinned += count
    if not pinned:
        return None
    git(worktree, "add", "--all", ".github/workflows")
    git(worktree, *RELEASE_IDENTITY, "commit", "--quiet", "--message", message)
    return git(worktree, "rev-parse", "HEAD")


def release_commit(repo: Path, source: str, version: str, repository: str) -> str:
    """R1 and R2 on top of SOURCE (see the module's docstring); the hash to tag."""
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-release-") as scratch:
        worktree = Path(scratch) / "tree"
        git(repo, "worktree", "add", "--quiet", "--detach", str(worktree), source)
        try:
            actions_pinned = commit_pinned(
                worktree,
                ACTION_REFERENCE,
                repository,
                source,
                f"Release v{version}: the workflows call the actions of {source}",
            )
            if actions_pinned is None:
                raise ReleaseError(f"no {LIBRARY}/actions/...@main reference in the workflows")
            workflows_pinned = commit_pinned(
                worktree,
                WORKFLOW_REFERENCE,
                repository,
                actions_pinned,
                f"Release v{version}: the workflows call the workflows of {actions_pinned}",
            )
            return workflows_pinned or actions_pinned
        finally:
            git(repo, "worktree", "remove", "--force", str(worktree))


def push(repo: Path, remote: str, version: str, major: str) -> None:
    """Push the new tag, then move the major tag; with GITHUB_TOKEN when there is one."""
    config: list[str] = []
    token = os.environ.get("GITHUB_TOKEN", "")
    if token:
        # What actions/checkout does, without persisting the token in .git/config.
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        config = ["-c", f"http.https://github.com/.extraheader=AUTHORIZATION: basic {basic}"]
    git(repo, *config, "push", remote, f"refs/tags/v{version}")
    git(repo, *config, "push", "--force", remote, f"refs/tags/{major}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("version", help="X.Y.Z, as pyproject.toml declares it")
    parser.add_argument(
        "--repository",
        default=os.environ.get("GITHUB_REPOSITORY", LIBRARY),
        help="OWNER/NAME the released workflows call (default $GITHUB_REPOSITORY)",
    )
    parser.add_argument("--push", metavar="REMOTE", help="push the tags to this remote")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repo: Path = args.repo
    try:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repository):
            raise ReleaseError(f"repository: expected OWNER/NAME, got {args.repository!r}")
        source = check_release(repo, args.version)
        release = release_commit(repo, source, args.version, args.repository)
    except ReleaseError as error:
        print(f"::error title=release::{error}", file=sys.stderr)
        return 2
    major = "v" + args.version.split(".", 1)[0]
    git(repo, *RELEASE_IDENTITY, "tag", "-a", f"v{args.version}", release, "-m", f"v{args.version}")
    git(repo, "tag", "--force", major, release)
    print(f"v{args.version} = {release} (the actions of {source}); {major} moved to it")
    if args.push:
        push(repo, args.push, args.version, major)
        print(f"pushed v{args.version} and {major} to {args.push}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
