"""What `pip install` lines and requirements files ask for, read as the policy needs it.

The Dockerfile rules (policy.py) ask two questions of a `RUN` line: is it a `pip install`
(and with which flags), and is every requirement it installs pinned, following `-r` files
through the build context.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

_PIP = re.compile(r"^(?:.*/)?pip(?:3(?:\.\d+)?)?$")
_PYTHON = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?\s*===?\s*[^\s*,<>=!~]+$")
_VCS_PINNED = re.compile(r"@[0-9a-f]{40}(?:#|$)")
# pip options that take a value (so the value is not mistaken for a requirement).
_PIP_VALUE_OPTIONS = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--src",
    "--upgrade-strategy",
    "--progress-bar",
    "--cache-dir",
    "--trusted-host",
    "-C",
    "--config-settings",
    "--global-option",
    "--report",
    "--no-binary",
    "--only-binary",
    "--log",
    "--timeout",
    "--retries",
    "--proxy",
    "--cert",
    "--client-cert",
    "--exists-action",
    "--root-user-action",
    "--python",
    "--use-feature",
    "--use-deprecated",
    "--group",
    "--build-constraint",
}


@dataclass
class PipInstall:
    """What one `pip install` command line asks for."""

    no_cache_dir: bool = False
    require_hashes: bool = False
    no_deps: bool = False
    requirement_files: list[str] = field(default_factory=list)
    constraint_files: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)


def shell_commands(script: str) -> list[list[str]]:
    """Simple commands of a shell script (split at `&&`, `||`, `;`, `|`, newlines)."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: words are still better than nothing
        tokens = script.split()
    commands: list[list[str]] = []
    current: list[str] = []
    for token in tokens:
        if token and set(token) <= set(";&|()<>\n"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands


def pip_install_arguments(argv: list[str]) -> list[str] | None:
    """The arguments after `pip install` (or `python -m pip install`) in one command."""
    for index, token in enumerate(argv):
        if _PIP.match(token):
            if index > 0 and argv[index - 1] == "uv":
                return None  # `uv pip install` has its own cache and flags
            rest = argv[index + 1 :]
        elif _PYTHON.match(token) and argv[index + 1 : index + 3] == ["-m", "pip"]:
            rest = argv[index + 3 :]
        else:
            continue
        position = 0
        while position < len(rest) and rest[position].startswith("-"):
            position += 1  # global options before the subcommand
        if position < len(rest) and rest[position] == "install":
            return rest[:position] + rest[position + 1 :]
        return None
    return None


def analyse_pip(arguments: list[str]) -> PipInstall:
    """Sort a `pip install`'s arguments into what the policy looks at."""
    result = PipInstall()
    position = 0
    while position < len(arguments):
        word = arguments[position]
        position += 1
        name, eq, inline_value = word.partition("=")
        if (
            word.startswith("-")
            and not word.startswith("--")
            and len(word) > 2
            and word[1] in "rce"
        ):
            name, inline_value, eq = word[:2], word[2:], "="  # -rrequirements.txt
        if not word.startswith("-"):
            result.requirements.append(word)
            continue
        value = inline_value if eq else None
        if name in _PIP_VALUE_OPTIONS and value is None and position < len(arguments):
            value = arguments[position]
            position += 1
        if name == "--no-cache-dir":
            result.no_cache_dir = True
        elif name == "--require-hashes":
            result.require_hashes = True
        elif name == "--no-deps":
            result.no_deps = True
        elif name in ("-r", "--requirement") and value:
            result.requirement_files.append(value)
        elif name in ("-c", "--constraint") and value:
            result.constraint_files.append(value)
        elif name in ("-e", "--editable") and value:
            result.requirements.append(value)
    return result


def is_local(requirement: str) -> bool:
    """A path or an archive (a local wheel or project), not a name from an index."""
    return requirement.startswith((".", "/", "file:")) or requirement.endswith(
        (".whl", ".tar.gz", ".zip")
    )


def is_pinned(requirement: str) -> bool:
    """`pkg==1.2.3` (markers allowed), or a VCS URL at a full commit hash."""
    spec = requirement.split(";", 1)[0].strip()
    if "--hash" in requirement:
        return True
    if "://" in spec or spec.startswith("git+"):
        return bool(_VCS_PINNED.search(spec)) or "#sha256=" in spec
    return bool(_PINNED.match(spec))


@dataclass(frozen=True)
class Unpinned:
    """A requirement line that is not pinned."""

    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.text!r}"


def unpinned_in_file(context: Path, relative: str, seen: set[str] | None = None) -> list[Unpinned]:
    """Unpinned lines of a requirements file (following `-r`), relative to the context.

    Raises FileNotFoundError when the file (or a nested one) is not in the context.
    """
    seen = set() if seen is None else seen
    if relative in seen:
        return []
    seen.add(relative)
    text = (context / relative).read_text(encoding="utf-8")
    found: list[Unpinned] = []
    logical: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append((start, (pending + line).strip()))
        pending = ""
    for number, line in logical:
        if not line:
            continue
        words = line.split()
        if words[0] in ("-r", "--requirement") or words[0].startswith("--requirement="):
            nested = words[1] if len(words) > 1 else words[0].partition("=")[2]
            target = posixpath.normpath(posixpath.join(posixpath.dirname(relative), nested))
            found.extend(unpinned_in_file(context, target, seen))
        elif words[0] in ("-e", "--editable"):
            if len(words) > 1 and not is_local(words[1]) and not is_pinned(words[1]):
                found.append(Unpinned(relative, number, line))
        elif line.startswith("-"):
            continue  # --index-url, -c constraints, --hash continuation lines ...
        elif not is_local(line) and not is_pinned(line):
            found.append(Unpinned(relative, number, line))
    return found
