"""docker/metadata-action's `tags` and `flavor` inputs: parsing, and evaluation on git facts.

The subset users copy into pipelines: `type=schedule` (a fixed pattern), `type=ref`
(`event=branch|tag|pr`), `type=semver` (`pattern`, `value`), `type=match` (`pattern`,
`group`, `value`), `type=raw` (`value`) and `type=sha` (`format=short|long`), with the
global attributes `enable`, `priority`, `prefix`, `suffix` and the expressions
`{{branch}}`, `{{tag}}`, `{{sha}}`, `{{is_default_branch}}`. Lines are CSV like
metadata-action's (quote a field holding a comma: `"pattern=v(\\d{1,3})"`).

One extension: `type=semver,...,match=REGEX` applies REGEX to the git tag first and takes
its first group (the whole match when it has none) as the version, so a monorepo tag
`api/v1.2.3` with `match=api/v(\\d+\\.\\d+\\.\\d+)` gives `1.2.3`, `1.2` and `1` from the
usual patterns (metadata-action's `type=match` gives one tag per line, no `{{major}}`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from fastapi_ci.errors import InputError

if TYPE_CHECKING:
    from fastapi_ci.build_push.tags import GitFacts

RuleType = Literal["schedule", "ref", "semver", "match", "raw", "sha"]
# metadata-action's default priority of each type: higher comes first in the tag list.
PRIORITY: dict[str, int] = {
    "schedule": 1000,
    "semver": 900,
    "match": 800,
    "ref": 600,
    "raw": 200,
    "sha": 100,
}
_ATTRIBUTES: dict[str, frozenset[str]] = {
    "schedule": frozenset({"pattern"}),
    "ref": frozenset({"event"}),
    "semver": frozenset({"pattern", "value", "match"}),
    "match": frozenset({"pattern", "group", "value"}),
    "raw": frozenset({"value"}),
    "sha": frozenset({"format"}),
}
_GLOBAL_ATTRIBUTES = frozenset({"type", "enable", "priority", "prefix", "suffix"})
UNSUPPORTED_TYPES = ("edge", "pep440")
SHORT_SHA_LENGTH = 7
# node-semver's `valid()` (strict): what metadata-action's type=semver accepts.
_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_EXPRESSION = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class Semver:
    """A parsed semantic version (build metadata dropped, as node-semver's `version`)."""

    raw: str
    major: str
    minor: str
    patch: str
    prerelease: str | None

    @property
    def version(self) -> str:
        """`major.minor.patch[-prerelease]`."""
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.prerelease}" if self.prerelease else core


def _line_error(input_name: str, message: str) -> InputError:
    """A `tags` or `flavor` line that does not parse (or names what does not exist)."""
    return InputError(
        input_name,
        message,
        why="the lines follow docker/metadata-action's syntax, and one that does not parse is "
        "refused, not skipped, so no tag you asked for goes missing",
        docs="build-push#tags-your-own-way",
    )


def parse_semver(text: str) -> Semver | None:
    """The version in `text` (`v` prefix allowed), or None when it is not semver."""
    match = _SEMVER.match(text)
    if not match:
        return None
    major, minor, patch = match.group("major", "minor", "patch")
    return Semver(text, major, minor, patch, match.group("prerelease"))


@dataclass(frozen=True)
class TagRule:
    """One line of the `tags` input.

    `latest_allowed` and `skip_major_zero` are not user syntax: they carry the two places
    where our default rules deliberately differ (see tags.py).
    """

    type: RuleType
    attrs: dict[str, str] = field(default_factory=dict)
    enable: str = "true"
    priority: int | None = None
    prefix: str | None = None
    suffix: str | None = None
    latest_allowed: bool = True
    skip_major_zero: bool = False

    @property
    def order(self) -> int:
        """The priority: given, else metadata-action's default for the type."""
        return self.priority if self.priority is not None else PRIORITY[self.type]


@dataclass(frozen=True)
class Flavor:
    """metadata-action's `flavor`: latest=auto|true|false, a global prefix and suffix."""

    latest: Literal["auto", "true", "false"] = "auto"
    prefix: str = ""
    prefix_on_latest: bool = False
    suffix: str = ""
    suffix_on_latest: bool = False

    def wants_latest(self, auto: bool) -> bool:
        """Whether `latest` is added, given what latest=auto would decide."""
        return self.latest == "true" or (self.latest == "auto" and auto)

    def latest_tag(self) -> str:
        """`latest`, with the prefix/suffix when `onlatest=true`."""
        prefix = self.prefix if self.prefix_on_latest else ""
        suffix = self.suffix if self.suffix_on_latest else ""
        return f"{prefix}latest{suffix}"


def _csv_fields(line: str, input_name: str) -> list[str]:
    try:
        return [item.strip() for item in next(csv.reader([line], skipinitialspace=True))]
    except (csv.Error, StopIteration) as error:
        raise _line_error(input_name, f"cannot read {line!r}: {error}") from None


def _boolean(value: str, what: str, input_name: str) -> bool:
    if value not in ("true", "false"):
        raise _line_error(input_name, f"{what} must be 'true' or 'false', got {value!r}")
    return value == "true"


def _lines(text: str | None) -> list[str]:
    lines = (line.strip() for line in (text or "").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def parse_flavor(text: str | None) -> Flavor:
    """The `flavor` input: lines `latest=...`, `prefix=...[,onlatest=...]`, `suffix=...`."""
    values: dict[str, object] = {}
    for line in _lines(text):
        fields = _csv_fields(line, "flavor")
        key, _, value = fields[0].partition("=")
        key = key.strip().lower()
        options = dict(item.partition("=")[::2] for item in fields[1:])
        unknown = [name for name in options if name != "onlatest" or key == "latest"]
        if unknown:
            raise _line_error("flavor", f"unknown option {unknown[0]!r} in {line!r}")
        if key == "latest":
            if value not in ("auto", "true", "false"):
                raise _line_error("flavor", f"latest must be auto, true or false, got {value!r}")
            values["latest"] = value
        elif key in ("prefix", "suffix"):
            values[key] = value
            on_latest = options.get("onlatest", "false")
            values[f"{key}_on_latest"] = _boolean(on_latest, "onlatest", "flavor")
        else:
            raise _line_error(
                "flavor", f"unknown entry {key!r} in {line!r}; expected latest, prefix or suffix"
            )
    return Flavor(**values)  # type: ignore[arg-type]


def parse_rule(line: str) -> TagRule:
    """One `tags` line: `type=...,key=value,...`, or a bare value (`type=raw`)."""
    attrs: dict[str, str] = {}
    bare: list[str] = []
    for item in _csv_fields(line, "tags"):
        key, equals, value = item.partition("=")
        if not equals:
            bare.append(item)
        else:
            attrs[key.strip().lower()] = value.strip()
    kind = attrs.pop("type", "raw")
    if kind in UNSUPPORTED_TYPES:
        raise _line_error("tags", f"type={kind} is not supported (line {line!r})")
    if kind not in PRIORITY:
        raise _line_error(
            "tags", f"unknown type {kind!r} in {line!r}; types: {', '.join(PRIORITY)}"
        )
    if bare:
        if kind != "raw" or "value" in attrs or len(bare) > 1:
            raise _line_error("tags", f"{bare[0]!r} in {line!r} is not key=value")
        attrs["value"] = bare[0]
    allowed = _ATTRIBUTES[kind] | _GLOBAL_ATTRIBUTES
    unknown = sorted(set(attrs) - allowed)
    if unknown:
        raise _line_error("tags", f"type={kind} has no attribute {unknown[0]!r} ({line!r})")
    priority = attrs.pop("priority", None)
    if priority is not None and not re.fullmatch(r"-?\d+", priority):
        raise _line_error("tags", f"priority must be a number, got {priority!r}")
    for regex_key in ("pattern", "match") if kind in ("match", "semver") else ():
        regex = attrs.get(regex_key)
        if regex is not None and (kind == "match" or regex_key == "match"):
            try:
                re.compile(regex)
            except re.error as error:
                raise _line_error(
                    "tags", f"{regex_key} {regex!r} is not a regex: {error}"
                ) from None
    if kind == "match" and not attrs.get("group", "0").isdigit():
        raise _line_error("tags", f"group must be a number, got {attrs['group']!r}")
    if kind == "ref" and attrs.get("event") not in ("branch", "tag", "pr"):
        raise _line_error("tags", f"type=ref needs event=branch, tag or pr ({line!r})")
    if kind == "sha" and attrs.get("format", "short") not in ("short", "long"):
        raise _line_error("tags", f"type=sha format must be short or long ({line!r})")
    if kind in ("semver", "match") and not attrs.get("pattern"):
        raise _line_error("tags", f"type={kind} needs a pattern ({line!r})")
    if kind == "raw" and not attrs.get("value"):
        raise _line_error("tags", f"type=raw needs a value ({line!r})")
    return TagRule(
        type=kind,  # type: ignore[arg-type]
        attrs=attrs,
        enable=attrs.pop("enable", "true"),
        priority=int(priority) if priority is not None else None,
        prefix=attrs.pop("prefix", None),
        suffix=attrs.pop("suffix", None),
    )


def parse_rules(text: str | None) -> list[TagRule] | None:
    """The `tags` input, or None when it is empty (then the default rules apply)."""
    lines = _lines(text)
    return [parse_rule(line) for line in lines] if lines else None


@dataclass(frozen=True)
class RuleResult:
    """The tags the rules produced (before `latest`), and whether latest=auto adds it."""

    tags: tuple[str, ...]
    latest: bool
    notes: tuple[str, ...] = ()


class _Evaluator:
    def __init__(self, facts: GitFacts, flavor: Flavor) -> None:
        self.facts = facts
        self.flavor = flavor
        self.notes: list[str] = []
        self.expressions = {
            "branch": facts.branch or "",
            "tag": facts.git_tag or "",
            "sha": facts.sha[:SHORT_SHA_LENGTH],
            "is_default_branch": str(
                facts.branch is not None and facts.branch == facts.default_branch
            ).lower(),
        }

    def expand(self, text: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.expressions:
                raise _line_error("tags", f"unknown expression {{{{{name}}}}} in {text!r}")
            return self.expressions[name]

        return _EXPRESSION.sub(substitute, text)

    def decorate(self, value: str, rule: TagRule) -> str:
        """metadata-action's setFlavor: the rule's own prefix/suffix wins over the flavor's."""
        default_prefix = {"sha": "sha-", "ref": "pr-" if rule.attrs.get("event") == "pr" else ""}
        prefix = self.expand(
            rule.prefix if rule.prefix is not None else default_prefix.get(rule.type, "")
        )
        suffix = self.expand(rule.suffix or "")
        return f"{prefix or self.flavor.prefix}{value}{suffix or self.flavor.suffix}"

    def values(self, rule: TagRule) -> tuple[list[str], bool]:
        """(tag values, latest=auto says latest) for one enabled rule."""
        facts = self.facts
        if rule.type == "schedule":
            if facts.event_name != "schedule":
                return [], False
            return [self.expand(rule.attrs.get("pattern", "nightly"))], False
        if rule.type == "raw":
            return [self.expand(rule.attrs["value"])], False
        if rule.type == "sha":
            if not facts.sha:
                return [], False
            long = rule.attrs.get("format") == "long"
            return [facts.sha if long else facts.sha[:SHORT_SHA_LENGTH]], False
        if rule.type == "ref":
            return self.ref_values(rule)
        source = self.expand(rule.attrs["value"]) if rule.attrs.get("value") else facts.git_tag
        if source is None:
            return [], False
        if rule.type == "match":
            found = re.search(rule.attrs["pattern"], source)
            if not found:
                return [], False
            group = int(rule.attrs.get("group", "0"))
            if group > (found.re.groups or 0):
                raise _line_error("tags", f"pattern {found.re.pattern!r} has no group {group}")
            return ([found.group(group)], True) if found.group(group) else ([], False)
        return self.semver_values(rule, source)

    def ref_values(self, rule: TagRule) -> tuple[list[str], bool]:
        facts = self.facts
        event = rule.attrs["event"]
        if event == "pr":
            if not facts.is_pull_request:
                return [], False
            if facts.pr_number is None:
                raise InputError(
                    "pr-number",
                    "a pull_request event without a PR number (no refs/pull/N/merge ref, no "
                    "pull_request.number in the event)",
                    fix="pass pr-number",
                    why="a pull request's image is tagged pr-<number>",
                    docs="build-push#checks-in-order",
                )
            return [str(facts.pr_number)], False
        if event == "tag":
            return ([facts.git_tag], rule.latest_allowed) if facts.git_tag else ([], False)
        if facts.branch is None or facts.is_pull_request:
            return [], False
        return [facts.branch], False

    def semver_values(self, rule: TagRule, source: str) -> tuple[list[str], bool]:
        if rule.attrs.get("match"):
            found = re.search(rule.attrs["match"], source)
            if not found:
                return [], False
            source = found.group(1) if found.re.groups else found.group(0)
        version = parse_semver(source)
        if version is None:
            self.notes.append(f"{source!r} is not semver: type=semver gave no tag")
            return [], False
        pattern = rule.attrs["pattern"]
        if version.prerelease:
            # A release candidate must not move `1`, `1.2` or `latest` under users' feet.
            wants_raw = "raw" in _EXPRESSION.findall(pattern)
            return [version.raw if wants_raw else version.version], False
        if rule.skip_major_zero and version.major == "0":
            return [], rule.latest_allowed
        parts = {
            "raw": version.raw,
            "version": version.version,
            "major": version.major,
            "minor": version.minor,
            "patch": version.patch,
        }

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in parts:
                raise _line_error("tags", f"unknown expression {{{{{name}}}}} in {pattern!r}")
            return parts[name]

        return [_EXPRESSION.sub(substitute, pattern)], rule.latest_allowed


def evaluate_rules(facts: GitFacts, rules: list[TagRule], flavor: Flavor) -> RuleResult:
    """The tags of the enabled rules, highest priority first (stable), and the latest verdict."""
    evaluator = _Evaluator(facts, flavor)
    tags: list[str] = []
    latest = False
    for rule in sorted(rules, key=lambda each: -each.order):
        if not _boolean(evaluator.expand(rule.enable), "enable", "tags"):
            continue
        values, says_latest = evaluator.values(rule)
        tags += [evaluator.decorate(value, rule) for value in values]
        latest = latest or says_latest
    return RuleResult(tuple(tags), latest, tuple(evaluator.notes))
