"""`.ci/standin-base.sh` takes the Debian mirror from the machine's apt sources, and only there."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.components import REPO_ROOT

SCRIPT = REPO_ROOT / ".ci" / "standin-base.sh"


def debian_mirror(apt_dir: Path) -> subprocess.CompletedProcess[str]:
    """The script's debian_mirror, sourced, reading the apt configuration in `apt_dir`."""
    env = {key: value for key, value in os.environ.items() if key != "FASTAPI_CI_DEBIAN_MIRROR"}
    return subprocess.run(
        ["bash", "-c", 'source "$0" && debian_mirror', str(SCRIPT)],
        env={**env, "FASTAPI_CI_APT_DIR": str(apt_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_mirror_is_the_debian_uri_of_the_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "other.list").write_text(
        "deb https://apt.example.test/node nodistro main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example.test/debian/\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example.test/debian-security\n"
        "Suites: bookworm-security\n"
    )
    found = debian_mirror(tmp_path)
    assert (found.returncode, found.stdout) == (0, "http://mirror.example.test/debian\n")


def test_commented_out_mirror_is_not_taken(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://old.example.test/debian bookworm main\n"
        "deb http://mirror.example.test/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path).stdout == "http://mirror.example.test/debian\n"


def test_no_debian_mirror_in_the_apt_sources_is_an_error_naming_them(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb https://apt.example.test/node nodistro main\n")
    found = debian_mirror(tmp_path)
    assert found.returncode == 1
    assert found.stdout == ""
    assert f"in the apt sources ({tmp_path}/sources.list*)" in found.stderr
    assert "FASTAPI_CI_DEBIAN_MIRROR" in found.stderr


def test_repository_writes_no_debian_mirror_host() -> None:
    # The mirror is the machine's business: a host written here would bypass its apt config.
    tracked = subprocess.run(
        ["git", "grep", "-n", "-I", "-E", r"deb\.debian\.org|ftp\.[a-z.]*debian\.org", "--", "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tracked.stdout == ""
