"""`.ci/release.py`: a release tag's workflows call the actions of that same release."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.components import REPO_ROOT
from tests.support.release import RELEASE, commit_all, git, set_version

HASH_PINNED = re.compile(r"uses:\s*acme/fastapi-ci/([\w./-]+)@([0-9a-f]{40})\b")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A repository holding this checkout's workflows, actions and pyproject.toml."""
    repo = tmp_path / "library"
    repo.mkdir()
    for part in (".github", "actions", "pyproject.toml", "zizmor.yml"):
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, repo / part)
        else:
            shutil.copy2(source, repo / part)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "main")
    return repo


def release(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(RELEASE),
            *args,
            "--repository",
            "acme/fastapi-ci",
            "--repo",
            str(repo),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_tag_pins_every_library_reference_to_the_released_commit(library: Path) -> None:
    source = set_version(library, "1.4.0")

    done = release(library, "1.4.0")

    assert done.returncode == 0, done.stderr
    tagged = git(library, "rev-parse", "v1.4.0^{commit}")
    assert git(library, "rev-parse", "v1^{commit}") == tagged
    # main did not move; the release commits sit on top of it and touch only the workflows.
    assert git(library, "rev-parse", "main") == source
    assert git(library, "merge-base", tagged, source) == source
    changed = git(library, "diff", "--name-only", source, tagged).splitlines()
    assert changed
    assert all(name.startswith(".github/workflows/") for name in changed)
    listed = git(library, "ls-tree", "--name-only", f"{tagged}:.github/workflows").split()
    workflows = {
        f".github/workflows/{name}": git(library, "show", f"{tagged}:.github/workflows/{name}")
        for name in listed
    }
    text = "\n".join(workflows.values())
    uses = [line for line in text.splitlines() if line.strip().startswith(("uses:", "- uses:"))]
    assert not [line for line in uses if "@main" in line or "fastapi-ci/fastapi-ci/" in line]
    pins = HASH_PINNED.findall(text)
    assert pins
    for path, commit in pins:
        if path.startswith("actions/"):
            # The actions at that hash are the ones released.
            assert commit == source
            assert git(library, "diff", "--stat", commit, tagged, "--", "actions") == ""
        else:
            # deploy.yml calls ci.yml at a commit whose ci.yml calls the same actions.
            called = git(library, "show", f"{commit}:{path}")
            assert called == workflows[path]


def test_the_released_workflows_pass_zizmor_with_no_exemption(library: Path) -> None:
    set_version(library, "1.4.0")
    assert release(library, "1.4.0").returncode == 0
    git(library, "checkout", "-q", "v1.4.0")
    # The repository's zizmor settings, minus the @main exemption for our own references.
    settings = yaml.safe_load((library / "zizmor.yml").read_text())
    del settings["rules"]["unpinned-uses"]
    (library / "zizmor.yml").write_text(yaml.safe_dump(settings))
    zizmor = Path(sys.executable).parent / "zizmor"
    audit = subprocess.run(
        [str(zizmor), "--offline", "--config", "zizmor.yml", ".github/workflows", "actions"],
        cwd=library,
        capture_output=True,
        text=True,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_the_next_release_moves_the_major_tag_and_keeps_the_old_one(library: Path) -> None:
    set_version(library, "1.4.0")
    assert release(library, "1.4.0").returncode == 0
    first = git(library, "rev-parse", "v1.4.0^{commit}")
    set_version(library, "1.5.0")

    assert release(library, "1.5.0").returncode == 0

    assert git(library, "rev-parse", "v1.4.0^{commit}") == first
    assert git(library, "rev-parse", "v1^{commit}") == git(library, "rev-parse", "v1.5.0^{commit}")


def test_tags_are_pushed_and_the_major_tag_is_force_moved(library: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    for version in ("1.4.0", "1.5.0"):
        set_version(library, version)
        done = release(library, version, "--push", str(remote))
        assert done.returncode == 0, done.stderr
    assert git(remote, "rev-parse", "v1^{commit}") == git(library, "rev-parse", "v1.5.0^{commit}")
    assert git(remote, "rev-parse", "v1.4.0^{commit}") == git(
        library, "rev-parse", "v1.4.0^{commit}"
    )


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.4", "version: expected X.Y.Z"),
        ("v1.4.0", "version: expected X.Y.Z"),
        ("1.5.0", "declares '1.4.0', not '1.5.0'"),
    ],
)
def test_a_bad_version_exits_2_and_changes_nothing(
    library: Path, version: str, message: str
) -> None:
    set_version(library, "1.4.0")
    done = release(library, version)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert git(library, "tag") == ""


def test_an_existing_release_is_never_moved(library: Path) -> None:
    set_version(library, "1.4.0")
    assert release(library, "1.4.0").returncode == 0
    tagged = git(library, "rev-parse", "v1.4.0^{commit}")
    again = release(library, "1.4.0")
    assert again.returncode == 2
    assert "tag v1.4.0 exists already" in again.stderr
    assert git(library, "rev-parse", "v1.4.0^{commit}") == tagged


def test_a_dirty_working_tree_is_refused(library: Path) -> None:
    set_version(library, "1.4.0")
    (library / "pyproject.toml").write_text("# edited\n" + (library / "pyproject.toml").read_text())
    done = release(library, "1.4.0")
    assert done.returncode == 2
    assert "uncommitted changes" in done.stderr
