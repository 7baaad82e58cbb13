"""A team's policy over the verdicts: levels per rule id, and changes accepted on purpose.

* A severity-levels file (oasdiff's format): one `RULE-ID LEVEL` per line, LEVEL one of
  error, warning, info or none (none drops the rule); `#` starts a comment.
* An ignore file (YAML): a list of `{fingerprint, reason, expires}`; `fingerprint` is a
  change's `fingerprint` from the JSON report, `reason` is required, `expires` (a date) is
  optional. An entry past its expiry date no longer hides its change and fails the check,
  so an accepted break cannot be forgotten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from fastapi_ci.errors import InputError
from fastapi_ci.input_files import check_tree, read_text_file
from fastapi_ci.schema_guard.report import Change

SeverityLevel = Literal["error", "warning", "info", "none"]
_LEVELS: tuple[str, ...] = get_args(SeverityLevel)
# oasdiff's spellings, so a team can reuse its file as is.
_OASDIFF_LEVELS = {"err": "error", "warn": "warning"}
_RULE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_IGNORE_FILE_FIX = (
    "write a YAML list of entries such as `- {fingerprint: <from the report>, "
    "reason: <why it is accepted>, expires: 2026-12-31}`"
)


@dataclass(frozen=True)
class Ignore:
    """A change accepted on purpose, until `expires` (inclusive) if given."""

    fingerprint: str
    reason: str
    expires: date | None = None

    def expired(self, today: date) -> bool:
        """True once the expiry date has passed."""
        return self.expires is not None and self.expires < today


@dataclass(frozen=True)
class PolicyOutcome:
    """The changes after the policy, the ones it hid, and the ignore entries that expired."""

    changes: list[Change]
    ignored: list[Change] = field(default_factory=list)
    expired: list[Ignore] = field(default_factory=list)


@dataclass(frozen=True)
class Policy:
    """Levels by rule id and ignored fingerprints; empty means the tool's own verdicts."""

    levels: dict[str, SeverityLevel] = field(default_factory=dict)
    ignores: tuple[Ignore, ...] = ()

    @classmethod
    def load(cls, severity_levels: str | None, ignore_file: str | None) -> Policy:
        """Read the files the inputs name (either may be None)."""
        return cls(
            levels=_read_severity_levels(Path(severity_levels)) if severity_levels else {},
            ignores=tuple(_read_ignores(Path(ignore_file))) if ignore_file else (),
        )

    def apply(self, changes: list[Change], today: date) -> PolicyOutcome:
        """Relevel, drop `none`, and hide ignored changes (unless their entry expired)."""
        active = {i.fingerprint: i for i in self.ignores if not i.expired(today)}
        kept: list[Change] = []
        ignored: list[Change] = []
        for change in changes:
            level = self.levels.get(change.id)
            if level == "none":
                continue
            if level is not None and level != change.level:
                change = change.model_copy(update={"level": level})
            (ignored if change.fingerprint in active else kept).append(change)
        expired = [i for i in self.ignores if i.expired(today)]
        return PolicyOutcome(kept, ignored, expired)


def _read_severity_levels(path: Path) -> dict[str, SeverityLevel]:
    levels: dict[str, SeverityLevel] = {}
    for number, line in enumerate(read_text_file(path, "severity-levels").splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        level = _OASDIFF_LEVELS.get(words[-1].lower(), words[-1].lower())
        if len(words) != 2 or not _RULE_ID.match(words[0]) or level not in _LEVELS:
            raise InputError(
                "severity-levels",
                f"{path}:{number}: expected `RULE-ID LEVEL` with LEVEL one of "
                f"{', '.join(_LEVELS)}, got {line.strip()!r}",
                why="each line sets the level of one rule; a line read otherwise would "
                "change a verdict silently",
                fix="write one `RULE-ID LEVEL` per line (`#` starts a comment)",
                docs="schema-guard#schema-guard",
            )
        levels[words[0]] = level  # type: ignore[assignment]  # checked against _LEVELS
    return levels


def _read_ignores(path: Path) -> list[Ignore]:
    try:
        entries: Any = check_tree(
            yaml.safe_load(read_text_file(path, "ignore-file")), path, "ignore-file"
        )
    except yaml.YAMLError as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError("ignore-file", f"{path}: not valid YAML ({detail})") from None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InputError(
            "ignore-file",
            f"{path}: expected a list of {{fingerprint, reason}}",
            fix=_IGNORE_FILE_FIX,
            docs="schema-guard#schema-guard",
        )
    ignores: list[Ignore] = []
    for index, entry in enumerate(entries, start=1):
        where = f"{path}: entry {index}"
        if not isinstance(entry, dict) or set(entry) - {"fingerprint", "reason", "expires"}:
            raise InputError(
                "ignore-file",
                f"{where}: expected fingerprint, reason and optional expires",
                fix=_IGNORE_FILE_FIX,
                docs="schema-guard#schema-guard",
            )
        fingerprint, reason = entry.get("fingerprint"), entry.get("reason")
        if not isinstance(fingerprint, str) or not fingerprint:
            raise InputError("ignore-file", f"{where}: `fingerprint` is missing")
        if not isinstance(reason, str) or not reason.strip():
            raise InputError(
                "ignore-file",
                f"{where}: `reason` is required (why is it accepted?)",
                why="an accepted breaking change stays in the file; the reason tells the next "
                "reader why clients could take it",
                docs="schema-guard#schema-guard",
            )
        ignores.append(Ignore(fingerprint, reason.strip(), _expiry(entry.get("expires"), where)))
    return ignores


def _expiry(value: Any, where: str) -> date | None:
    # YAML reads an unquoted 2026-12-31 as a date already; a quoted one is a string.
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InputError("ignore-file", f"{where}: `expires` is not a YYYY-MM-DD date") from None
