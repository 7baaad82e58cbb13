"""The Dockerfile policy, checked before anything is built: each finding on its line.

Rules (id: level) — each one a production incident somebody already had:

* `non-root-user` (error): the final stage must end with a `USER` that is not root/0;
  a container escape from root is a host compromise.
* `base-image-tag` (error): a base image (or a `COPY --from=<image>`) `:latest` or
  untagged changes under you.
* `base-image-digest` (warning): a tag can be re-pushed; a digest cannot (for
  `COPY --from=<image>:<tag>` too).
* `pip-no-cache-dir` (error): pip's cache left in a layer is dead weight (tens of MB).
* `pip-pinned` (error): `pip install` of unpinned requirements builds a different image
  each day; allowed: `-r` files whose every line is `==`-pinned or hashed,
  `--require-hashes`, inline `pkg==1.2.3`, local wheels/projects with `--no-deps`.
* `multi-stage` (warning): a single stage ships the build tools.
* `dockerignore` (warning): without one, `.git`, `.venv` and secrets reach the context.
* `migration-in-entrypoint` (error): a migration in ENTRYPOINT/CMD runs once per replica,
  concurrently, on every restart; run it once as a job before the rollout.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi_ci.action_io import Annotation
from fastapi_ci.build_push.dockerfile import (
    Dockerfile,
    Instruction,
    Stage,
    StageScope,
    expand,
    parse_arg,
    parse_dockerfile,
    parse_env,
)
from fastapi_ci.build_push.requirements import (
    PipInstall,
    Unpinned,
    analyse_pip,
    is_local,
    is_pinned,
    pip_install_arguments,
    shell_commands,
    unpinned_in_file,
)
from fastapi_ci.clients.registry import parse_reference
from fastapi_ci.errors import InputError
from fastapi_ci.input_files import read_text_file

RULES: dict[str, str] = {
    "non-root-user": "the final stage runs as a non-root USER",
    "base-image-tag": "base images have an explicit tag other than latest",
    "base-image-digest": "base images are pinned by digest",
    "pip-no-cache-dir": "pip install uses --no-cache-dir",
    "pip-pinned": "pip installs pinned requirements",
    "multi-stage": "the image is built in several stages",
    "dockerignore": "the build context has a .dockerignore",
    "migration-in-entrypoint": "no migration runs in ENTRYPOINT/CMD",
}
Level = Literal["error", "warning"]
MAX_SCRIPT_BYTES = 256_000
MAX_LISTED = 3

_MIGRATION = re.compile(
    r"\balembic\b[^;&|\n]*\b(?:upgrade|downgrade|stamp)\b|\bmigrate\b|\bflask\s+db\s+upgrade\b|"
    r"\baerich\s+upgrade\b|\byoyo\s+apply\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    """One policy finding on a Dockerfile line."""

    rule: str
    level: Level
    message: str
    line: int | None
    fix: str = ""

    def annotation(self, file: str) -> Annotation:
        """As an annotation on the Dockerfile (GitHub shows it on the line in the PR)."""
        message = f"{self.message}. Fix: {self.fix}" if self.fix else self.message
        return Annotation(
            level=self.level,
            message=message,
            file=file,
            line=self.line,
            title=f"build-push policy: {self.rule}",
        )


class PolicyChecker:
    """Walks a parsed Dockerfile once and collects the findings."""

    def __init__(
        self,
        dockerfile: Dockerfile,
        context: Path,
        build_args: Mapping[str, str],
        target: Stage | None = None,
    ):
        self.dockerfile = dockerfile
        self.target = target or dockerfile.final_stage
        self.context = context
        self.build_args = build_args
        self.findings: list[Finding] = []
        # Per stage: its scope at the end, and its last USER / CMD / ENTRYPOINT.
        self.scopes: dict[int, StageScope] = {}
        self.users: dict[int, tuple[str, Instruction] | None] = {}
        self.commands: dict[int, dict[str, Instruction]] = {}

    def add(self, rule: str, level: Level, message: str, line: int | None, fix: str = "") -> None:
        """Record a finding."""
        self.findings.append(Finding(rule, level, message, line, fix))

    def check(self) -> list[Finding]:
        """Run every rule."""
        # Stages after the target are not built (BuildKit skips what the target does not need).
        for stage in self.dockerfile.stages[: self.target.index + 1]:
            self.walk_stage(stage)
        final = self.target
        self.check_user(final)
        self.check_migrations(final)
        if self.target.index == 0:
            self.add(
                "multi-stage",
                "warning",
                "single-stage build: compilers, headers and pip itself ship in the image",
                final.line,
                "install dependencies in a builder stage and COPY --from=builder only the venv",
            )
        return self.findings

    def parent_stage(self, stage: Stage) -> Stage | None:
        """The earlier stage this one is built FROM, if any."""
        parent = self.dockerfile.stage_named(stage.base)
        return parent if parent is not None and parent.index < stage.index else None

    def walk_stage(self, stage: Stage) -> None:
        """Follow one stage's instructions, checking its base image and its RUNs."""
        parent = self.parent_stage(stage)
        if parent is not None:
            inherited = self.scopes[parent.index]
            scope = StageScope(
                variables=dict(inherited.variables),
                workdir=inherited.workdir,
                copies=dict(inherited.copies),
            )
            self.users[stage.index] = self.users[parent.index]
            self.commands[stage.index] = dict(self.commands[parent.index])
        else:
            scope = StageScope(variables={})
            self.users[stage.index] = None
            self.commands[stage.index] = {}
            self.check_base_image(stage)
        for instruction in stage.instructions:
            keyword = instruction.keyword
            if keyword == "ARG":
                for name, default in parse_arg(instruction.value):
                    inherited_default = self.dockerfile.global_args.get(name)
                    scope.variables[name] = self.build_args.get(
                        name, default if default is not None else inherited_default
                    )
            elif keyword == "ENV":
                for name, value in parse_env(instruction.value).items():
                    scope.variables[name] = expand(value, scope.variables)
            elif keyword == "WORKDIR":
                scope.workdir = scope.absolute(expand(instruction.value.strip(), scope.variables))
            elif keyword in ("COPY", "ADD"):
                self.check_copy_from_image(instruction, scope)
                scope.record_copy(instruction, lambda source: (self.context / source).is_dir())
            elif keyword == "USER":
                self.users[stage.index] = (
                    expand(instruction.value.strip(), scope.variables),
                    instruction,
                )
            elif keyword in ("CMD", "ENTRYPOINT"):
                self.commands[stage.index][keyword] = instruction
            elif keyword == "RUN":
                self.check_run(instruction, scope)
        self.scopes[stage.index] = scope

    def check_base_image(self, stage: Stage) -> None:
        """`base-image-tag` and `base-image-digest` for an external base image."""
        if stage.base.lower() == "scratch":
            return
        if stage.unresolved or not stage.base:
            self.add(
                "base-image-tag",
                "warning",
                f"cannot check the base image {stage.base_as_written}: "
                f"{', '.join(stage.unresolved) or 'it'} has no value",
                stage.line,
                "give it a default in the ARG, or pass it in build-args",
            )
            return
        self.check_image_pinning(stage.base, stage.base_as_written, stage.line, "base image")

    def check_copy_from_image(self, instruction: Instruction, scope: StageScope) -> None:
        """`COPY --from=<image>` of an image, not a stage: pinned as a base image must be
        (`COPY --from=ghcr.io/astral-sh/uv:latest` changes the image as `FROM` would)."""
        source = instruction.flag("from")
        if source is None or self.dockerfile.stage_named(source) is not None:
            return
        missing: list[str] = []
        image = expand(source, scope.variables, missing)
        if missing or not image or self.dockerfile.stage_named(image) is not None:
            return  # a variable without a value, or one that names a stage
        self.check_image_pinning(
            image, source, instruction.line, f"{instruction.keyword} --from image"
        )

    def check_image_pinning(self, image: str, as_written: str, line: int, what: str) -> None:
        """An external image is tagged (not :latest) and, ideally, pinned by digest."""
        shown = image if image == as_written else f"{image} (from {as_written})"
        try:
            reference = parse_reference(image)
        except ValueError as error:
            self.add("base-image-tag", "error", f"{what} {shown}: {error}", line)
            return
        if reference.digest is None and reference.tag in (None, "latest"):
            how = "untagged (so :latest)" if reference.tag is None else "tagged :latest"
            self.add(
                "base-image-tag",
                "error",
                f"{what} {shown} is {how}: the next build may get a different image",
                line,
                "use a version tag (python:3.12-slim), ideally with @sha256:...",
            )
        elif reference.digest is None:
            self.add(
                "base-image-digest",
                "warning",
                f"{what} {shown} is not pinned by digest: the tag can be re-pushed",
                line,
                f"pin it: {image}@sha256:... "
                "(docker buildx imagetools inspect shows the digest; Dependabot keeps it fresh)",
            )

    def check_run(self, instruction: Instruction, scope: StageScope) -> None:
        """`pip-no-cache-dir` and `pip-pinned` for every pip install in a RUN."""
        exec_form = instruction.exec_form()
        scripts = (
            [" ".join(shlex.quote(word) for word in exec_form)]
            if exec_form is not None
            else [instruction.value, *instruction.heredocs]
        )
        copies = scope.with_mounts(instruction)
        cache_mounted = any(
            each.startswith("--mount=") and "type=cache" in each for each in instruction.flags
        )
        cache_disabled = scope.variables.get("PIP_NO_CACHE_DIR") not in (None, "")
        for script in scripts:
            for argv in shell_commands(expand(script, scope.variables)):
                arguments = pip_install_arguments(argv)
                if arguments is None:
                    continue
                pip = analyse_pip(arguments)
                if not (pip.no_cache_dir or cache_mounted or cache_disabled):
                    self.add(
                        "pip-no-cache-dir",
                        "error",
                        "pip install without --no-cache-dir leaves pip's download cache "
                        "in the layer",
                        instruction.line,
                        "add --no-cache-dir (or ENV PIP_NO_CACHE_DIR=1, or a "
                        "--mount=type=cache for /root/.cache/pip)",
                    )
                self.check_pinning(instruction, scope, copies, pip)

    def _requirement_file_problems(
        self, scope: StageScope, copies: Mapping[str, str], image_paths: Iterable[str]
    ) -> tuple[list[Unpinned], list[str]]:
        unpinned: list[Unpinned] = []
        unreadable: list[str] = []
        for image_path in image_paths:
            relative = scope.context_path_of(image_path, copies)
            resolved = (self.context / relative).resolve() if relative else None
            if (
                relative is None
                or resolved is None
                or not resolved.is_relative_to(self.context.resolve())
            ):
                unreadable.append(image_path)
                continue
            try:
                unpinned.extend(unpinned_in_file(self.context, relative))
            except (OSError, UnicodeDecodeError):
                unreadable.append(image_path)
        return unpinned, unreadable

    def check_pinning(
        self,
        instruction: Instruction,
        scope: StageScope,
        copies: Mapping[str, str],
        pip: PipInstall,
    ) -> None:
        """`pip-pinned`: every requirement of this pip install is pinned (or hashed)."""
        if pip.require_hashes:
            return  # pip itself refuses anything not pinned and hashed
        unpinned, unreadable = self._requirement_file_problems(scope, copies, pip.requirement_files)
        constraints_pinned = False
        if pip.constraint_files:
            loose, missing = self._requirement_file_problems(scope, copies, pip.constraint_files)
            constraints_pinned = not loose and not missing
        for requirement in pip.requirements:
            if "$" in requirement:
                unreadable.append(requirement)
            elif is_local(requirement):
                if not pip.no_deps and not constraints_pinned:
                    self.add(
                        "pip-pinned",
                        "warning",
                        f"pip install {requirement} without --no-deps resolves its "
                        "dependencies unpinned",
                        instruction.line,
                        "install the pinned requirements first, then the project with --no-deps",
                    )
            elif not is_pinned(requirement) and not constraints_pinned:
                unpinned.append(Unpinned("inline", instruction.line, requirement))
        if unpinned:
            listed = ", ".join(str(each) for each in unpinned[:MAX_LISTED])
            more = f" and {len(unpinned) - MAX_LISTED} more" if len(unpinned) > MAX_LISTED else ""
            self.add(
                "pip-pinned",
                "error",
                f"pip install of unpinned requirements: {listed}{more}",
                instruction.line,
                "pin every requirement (pkg==1.2.3), best with hashes: uv pip compile "
                "--generate-hashes --no-strip-extras or pip-compile, then pip install "
                "--require-hashes -r ...",
            )
        for what in unreadable:
            self.add(
                "pip-pinned",
                "warning",
                f"cannot check that {what} is pinned: not found in the build context",
                instruction.line,
            )

    def check_user(self, final: Stage) -> None:
        """`non-root-user` on the final stage (its own USER, or the stage it is built FROM)."""
        user = self.users.get(final.index)
        if user is None:
            self.add(
                "non-root-user",
                "error",
                f"the final stage ({final.label}) has no USER, so it runs as root",
                final.line,
                "create a user and end with `USER 10001` (a numeric uid)",
            )
            return
        value, instruction = user
        name = value.split(":", 1)[0].strip()
        if not name:
            self.add(
                "non-root-user",
                "warning",
                f"cannot tell who USER {instruction.value} is",
                instruction.line,
            )
        elif name in ("root", "0"):
            self.add(
                "non-root-user",
                "error",
                f"the final stage runs as root (USER {instruction.value})",
                instruction.line,
                "end the final stage with a non-root `USER 10001`",
            )

    def check_migrations(self, final: Stage) -> None:
        """`migration-in-entrypoint`: ENTRYPOINT/CMD, and the scripts they run."""
        scope = self.scopes[final.index]
        for keyword in ("ENTRYPOINT", "CMD"):
            instruction = self.commands[final.index].get(keyword)
            if instruction is None:
                continue
            exec_form = instruction.exec_form()
            words = (
                exec_form
                if exec_form is not None
                else [word for argv in shell_commands(instruction.value) for word in argv]
            )
            text = " ".join(words)
            match = _MIGRATION.search(text)
            where = (
                f"{keyword} runs `{match.group(0)}`"
                if match
                else self._migrating_script(words, scope)
            )
            if where:
                self.add(
                    "migration-in-entrypoint",
                    "error",
                    f"{where}: every replica would migrate, concurrently, on every restart",
                    instruction.line,
                    "run migrations once as a job with the new image before the rollout "
                    "(the migrate-once action); start only the server here",
                )

    def _migrating_script(self, words: list[str], scope: StageScope) -> str | None:
        """`ENTRYPOINT ["./entrypoint.sh"]` where the script (in the context) migrates."""
        for word in words:
            if "/" not in word and not word.endswith(".sh"):
                continue
            relative = scope.context_path_of(word) or posixpath.normpath(word.lstrip("/"))
            path = (self.context / relative).resolve()
            if not path.is_relative_to(self.context.resolve()) or not path.is_file():
                continue
            if path.stat().st_size > MAX_SCRIPT_BYTES:
                continue
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for number, line in enumerate(lines, start=1):
                stripped = line.strip()
                if stripped.startswith("#"):
                    continue
                match = _MIGRATION.search(stripped)
                if match:
                    return f"{word} runs `{match.group(0)}` ({relative}:{number})"
        return None


def target_stage(dockerfile: Dockerfile, target: str | None) -> Stage | None:
    """The stage `--target` names (None: the last); InputError naming `target` if none does."""
    if target is None:
        return None
    for stage in dockerfile.stages:
        if stage.name is not None and stage.name.lower() == target.lower():
            return stage
    names = ", ".join(stage.name for stage in dockerfile.stages if stage.name) or "none"
    raise InputError(
        "target",
        f"{dockerfile.path} has no stage named {target!r} (named stages: {names})",
        fix="name the stage with `FROM ... AS <name>`, or fix the target",
        docs="build-push#several-platforms-a-stage-build-secrets",
    )


def platform_build_args(platform: str) -> dict[str, str]:
    """The ARGs BuildKit defines for a target platform (TARGETARCH=arm64, ...)."""
    os_name, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    return {
        "TARGETPLATFORM": platform,
        "TARGETOS": os_name,
        "TARGETARCH": arch,
        "TARGETVARIANT": variant,
    }


def check_dockerfile(
    dockerfile: Path,
    context: Path,
    build_args: Mapping[str, str],
    ignore: Iterable[str] = (),
    *,
    target: str | None = None,
    platforms: Sequence[str] = (),
) -> list[Finding]:
    """All policy findings for `dockerfile` built in `context`, minus the ignored rules.

    With several platforms the Dockerfile is checked once per platform (the TARGET* ARGs
    can pick another base or another USER); a finding only some platforms have says which.
    """
    text = read_text_file(dockerfile, "dockerfile")
    if len(platforms) > 1:
        per_platform = {
            platform: check_dockerfile(
                dockerfile,
                context,
                {**platform_build_args(platform), **build_args},
                ignore,
                target=target,
            )
            for platform in platforms
        }
        merged: dict[Finding, list[str]] = {}
        for platform, found in per_platform.items():
            for finding in found:
                merged.setdefault(finding, []).append(platform)
        labelled = [
            finding
            if len(on) == len(platforms)
            else dataclasses.replace(finding, message=f"[{', '.join(on)}] {finding.message}")
            for finding, on in merged.items()
        ]
        return sorted(labelled, key=lambda finding: (finding.line or 0, finding.rule))
    if platforms:
        build_args = {**platform_build_args(platforms[0]), **build_args}
    parsed = parse_dockerfile(str(dockerfile), text, build_args)
    if not parsed.stages:
        return [Finding("non-root-user", "error", "no FROM instruction", 1)]
    findings = PolicyChecker(parsed, context, build_args, target_stage(parsed, target)).check()
    has_ignore_file = (context / ".dockerignore").is_file() or Path(
        f"{dockerfile}.dockerignore"
    ).is_file()
    if not has_ignore_file:
        findings.append(
            Finding(
                "dockerignore",
                "warning",
                f"no .dockerignore in the build context {context}: .git, .venv and local "
                "secrets are sent to the builder and may be COPYed into the image",
                1,
                "add a .dockerignore that excludes .git, .venv, tests and .env files",
            )
        )
    skipped = set(ignore)
    return sorted(
        (finding for finding in findings if finding.rule not in skipped),
        key=lambda finding: (finding.line or 0, finding.rule),
    )
