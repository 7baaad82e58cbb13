"""A Dockerfile parser that keeps line numbers: instructions, stages, variables, copies.

It follows BuildKit's front end where the policy needs it: parser directives (`# escape=`),
line continuations (comment and blank lines inside one are dropped), heredocs (`<<EOF`),
leading `--flags`, JSON (exec) and shell forms, `ARG` before the first `FROM` expanded in
`FROM` (build args override defaults), `AS` stage names, and `ARG`/`ENV` expansion
(`$X`, `${X}`, `${X:-default}`, `${X:+alt}`) inside a stage.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_VARIABLE = re.compile(
    r"\$(?:(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:?[-+])(?P<word>[^}]*))?\})"
)


@dataclass(frozen=True)
class Instruction:
    """One instruction: keyword, its leading `--flags`, the rest, and where it is."""

    keyword: str
    flags: tuple[str, ...]
    value: str
    line: int
    end_line: int
    heredocs: tuple[str, ...] = ()

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (`CMD ["python", "-m", "app"]`)."""
        text = self.value.strip()
        if not text.startswith("["):
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
        return None

    def flag(self, name: str) -> str | None:
        """The value of `--name=value` among the leading flags."""
        for each in self.flags:
            key, _, value = each.removeprefix("--").partition("=")
            if key == name:
                return value
        return None


@dataclass
class Stage:
    """One build stage: `FROM base [AS name]` and its instructions."""

    index: int
    base: str  # after ARG expansion
    base_as_written: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)
    unresolved: tuple[str, ...] = ()  # variables in FROM that had no value

    @property
    def label(self) -> str:
        """How to refer to the stage in a message."""
        return self.name or f"#{self.index}"


@dataclass
class Dockerfile:
    """A parsed Dockerfile."""

    path: str
    instructions: list[Instruction]
    stages: list[Stage]
    global_args: dict[str, str | None]

    def stage_named(self, name: str) -> Stage | None:
        """The stage a `FROM name` or `COPY --from=name` refers to (by name or index)."""
        for stage in self.stages:
            if stage.name is not None and stage.name.lower() == name.lower():
                return stage
        if name.isdigit() and int(name) < len(self.stages):
            return self.stages[int(name)]
        return None

    @property
    def final_stage(self) -> Stage:
        """The stage `docker build` outputs when no --target is given."""
        return self.stages[-1]


def expand(text: str, variables: Mapping[str, str | None], missing: list[str] | None = None) -> str:
    """Expand `$X`, `${X}`, `${X:-d}`, `${X-d}`, `${X:+a}`, `${X+a}` as BuildKit does.

    Names without a value expand to "" and are appended to `missing`.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group("bare") or match.group("name")
        op, word = match.group("op"), match.group("word") or ""
        value = variables.get(name)
        is_set = name in variables and value is not None
        if op in (":-", "-"):
            use_default = not value if op == ":-" else not is_set
            return expand(word, variables, missing) if use_default else str(value)
        if op in (":+", "+"):
            use_alt = bool(value) if op == ":+" else is_set
            return expand(word, variables, missing) if use_alt else ""
        if value is None:
            if missing is not None:
                missing.append(name)
            return ""
        return value

    return _VARIABLE.sub(substitute, text)


def _split_flags(rest: str) -> tuple[tuple[str, ...], str]:
    flags: list[str] = []
    while rest.startswith("--"):
        token, _, remainder = rest.partition(" ")
        flags.append(token)
        rest = remainder.lstrip()
    return tuple(flags), rest


def parse_instructions(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions with their first and last line numbers."""
    lines = text.splitlines()
    escape = "\\"
    index = 0
    # Parser directives: only at the very top, before any other line (comments included).
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index])
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
        index += 1
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    instructions: list[Instruction] = []
    while index < len(lines):
        raw = lines[index].strip()
        start = index + 1
        index += 1
        if not raw or raw.startswith("#"):
            continue
        parts: list[str] = []
        while continuation.search(raw):
            parts.append(continuation.sub("", raw))
            # Inside a continuation, comment and empty lines are skipped, not ends.
            while index < len(lines) and (
                not lines[index].strip() or lines[index].lstrip().startswith("#")
            ):
                index += 1
            if index >= len(lines):
                raw = ""
                break
            raw = lines[index].strip()
            index += 1
        parts.append(raw)
        logical = "".join(parts)
        keyword, _, rest = logical.partition(" ")
        flags, value = _split_flags(rest.strip())
        heredocs: list[str] = []
        for heredoc in _HEREDOC.finditer(value):
            terminator, body = heredoc.group(3), []
            while index < len(lines):
                line = lines[index]
                index += 1
                check = line.lstrip("\t") if heredoc.group(1) else line
                if check == terminator:
                    break
                body.append(line)
            heredocs.append("\n".join(body))
        instructions.append(
            Instruction(
                keyword=keyword.upper(),
                flags=flags,
                value=value,
                line=start,
                end_line=index,
                heredocs=tuple(heredocs),
            )
        )
    return instructions


def parse_dockerfile(path: str, text: str, build_args: Mapping[str, str]) -> Dockerfile:
    """Parse a Dockerfile into stages, expanding `FROM` with global ARGs and `build_args`."""
    instructions = parse_instructions(text)
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.value.split()
            written = words[0] if words else ""
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            missing: list[str] = []
            base = expand(written, global_args, missing)
            stages.append(
                Stage(
                    index=len(stages),
                    base=base,
                    base_as_written=written,
                    name=name,
                    line=instruction.line,
                    unresolved=tuple(missing),
                )
            )
        elif not stages:
            if instruction.keyword == "ARG":
                for name, default in parse_arg(instruction.value):
                    global_args[name] = build_args.get(name, default)
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(path=path, instructions=instructions, stages=stages, global_args=global_args)


def parse_arg(value: str) -> list[tuple[str, str | None]]:
    """`ARG A=1 B` -> [("A", "1"), ("B", None)]."""
    declared: list[tuple[str, str | None]] = []
    for word in _shell_words(value):
        name, eq, default = word.partition("=")
        declared.append((name, default if eq else None))
    return declared


def parse_env(value: str) -> dict[str, str]:
    """`ENV A=1 B="x y"` and the legacy `ENV A 1`."""
    words = _shell_words(value)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.partition("=")[::2] for word in words if "=" in word)


def _shell_words(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


@dataclass
class StageScope:
    """What is known while walking a stage: its variables, WORKDIR, user, copied files."""

    variables: dict[str, str | None]
    workdir: str = "/"
    # Absolute destination in the image -> path in the build context (COPY/ADD, bind mounts).
    copies: dict[str, str] = field(default_factory=dict)

    def absolute(self, path: str) -> str:
        """A path in the image as the instruction at hand sees it (WORKDIR-relative)."""
        return posixpath.normpath(posixpath.join(self.workdir, path))

    def context_path_of(
        self, image_path: str, copies: Mapping[str, str] | None = None
    ) -> str | None:
        """The build-context path a file in the image came from, if a COPY says so."""
        copies = self.copies if copies is None else copies
        target = self.absolute(image_path)
        if target in copies:
            return copies[target]
        for destination, source in copies.items():
            if target.startswith(destination.rstrip("/") + "/"):
                return posixpath.join(source, posixpath.relpath(target, destination))
        return None

    def record_copy(
        self, instruction: Instruction, is_directory: Callable[[str], bool] = lambda _: False
    ) -> None:
        """Remember where a COPY/ADD from the context puts its files.

        A directory source copies its contents (`COPY app/ /app/`: /app/main.py), a file
        into a directory destination keeps its name. `is_directory` asks the context.
        """
        if instruction.flag("from") is not None:
            return
        words = instruction.exec_form() or _shell_words(instruction.value)
        if len(words) < 2:
            return
        *sources, destination = (expand(word, self.variables) for word in words)
        # `.` is the WORKDIR, a directory, as is anything ending in `/`.
        into_directory = destination.endswith(("/", ".")) or len(sources) > 1
        destination = self.absolute(destination)
        for source in sources:
            normalized = (
                posixpath.normpath(source.lstrip("/")) if source not in (".", "./") else "."
            )
            if normalized == "." or not into_directory or is_directory(normalized):
                self.copies[destination] = normalized
            else:
                self.copies[posixpath.join(destination, posixpath.basename(normalized))] = (
                    normalized
                )

    def with_mounts(self, instruction: Instruction) -> dict[str, str]:
        """The copies as one RUN sees them: plus its context bind mounts (`--mount=type=bind`).

        `RUN --mount=type=bind,source=requirements.txt,target=/tmp/r.txt pip install -r
        /tmp/r.txt` reads the context file for that one RUN only.
        """
        copies = dict(self.copies)
        for each in instruction.flags:
            if not each.startswith("--mount="):
                continue
            options = dict(
                part.partition("=")[::2] for part in each.removeprefix("--mount=").split(",")
            )
            if options.get("type", "bind") == "bind" and "from" not in options:
                target = options.get("target") or options.get("dst") or options.get("destination")
                if target:
                    source = options.get("source") or options.get("src") or "."
                    copies[self.absolute(target)] = posixpath.normpath(source)
        return copies
