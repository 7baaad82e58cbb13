"""Image tags and OCI labels from git facts, following docker/metadata-action's rules.

Without a `tags` input, the tag set is what metadata-action produces for the configuration
most services use (with a `tags` input, those lines instead: see tag_rules.py):

    type=schedule                         -> nightly
    type=ref,event=branch                 -> the branch name (sanitized)
    type=ref,event=pr                     -> pr-<number>
    type=semver,pattern={{version}}       -> 1.2.3        (v1.2.3; 1.2.3-rc.1 for a prerelease)
    type=semver,pattern={{major}}.{{minor}} -> 1.2        (not for a prerelease)
    type=semver,pattern={{major}}         -> 1            (not for a prerelease, nor for 0.y.z)
    type=sha                              -> sha-<7 hex>
    latest                                -> on the default branch, and for a stable semver tag

Where we deliberately differ, each for a stated reason: a pull request's `sha-` tag and
revision label use the PR's HEAD commit (what the developer pushed, what `git log` shows),
not GitHub's throw-away merge commit (metadata-action does so only with
DOCKER_METADATA_PR_HEAD_SHA=true); a tag is made valid for the engine (no leading `.` or
`-`, at most 128 characters) where metadata-action would emit one `docker build` rejects;
major version zero gets no `0` tag (semver §4: 0.y.z promises no stability, the
recommendation in metadata-action's README). The `flavor` input (latest, prefix, suffix)
applies to both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi_ci.build_push.tag_rules import (
    Flavor,
    TagRule,
    evaluate_rules,
    parse_semver,
)
from fastapi_ci.errors import InputError
from fastapi_ci.input_files import read_text_file

MAX_TAG_LENGTH = 128
_INVALID_TAG_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
_INVALID_TAG_START = re.compile(r"^[^A-Za-z0-9_]+")
_PR_REF = re.compile(r"^refs/pull/(?P<number>\d+)/(?:merge|head)$")


def sanitize_tag(value: str) -> str:
    """metadata-action's sanitizeTag (runs of invalid characters -> `-`), made engine-valid."""
    tag = _INVALID_TAG_CHARACTERS.sub("-", value)
    return _INVALID_TAG_START.sub("", tag)[:MAX_TAG_LENGTH]


@dataclass(frozen=True)
class GitFacts:
    """What the tags are computed from: GitHub's variables and event file, or flags."""

    event_name: str
    ref: str
    sha: str
    pr_number: int | None = None
    default_branch: str | None = None
    repository: str | None = None
    server_url: str = "https://github.com"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def branch(self) -> str | None:
        """The branch of a `refs/heads/...` ref."""
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def git_tag(self) -> str | None:
        """The tag of a `refs/tags/...` ref."""
        return self.ref.removeprefix("refs/tags/") if self.ref.startswith("refs/tags/") else None

    @property
    def is_pull_request(self) -> bool:
        """A pull_request(_target) event, or a `refs/pull/N/merge` ref."""
        return self.event_name.startswith("pull_request") or bool(_PR_REF.match(self.ref))


def load_event(path: str | None, input_name: str = "event-path") -> dict[str, Any]:
    """GitHub's event payload (`GITHUB_EVENT_PATH`), or {} when there is none."""
    if not path:
        return {}
    text = read_text_file(path, input_name)
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise InputError(
            input_name, f"{path} is not JSON: {error}", docs="actions#what-every-action-guarantees"
        ) from None
    return payload if isinstance(payload, dict) else {}


def git_facts(
    env: Mapping[str, str],
    *,
    event_name: str | None = None,
    ref: str | None = None,
    sha: str | None = None,
    pr_number: int | None = None,
    default_branch: str | None = None,
) -> GitFacts:
    """Git facts from GitHub's variables and event file; each argument, when given, wins."""
    event = load_event(env.get("GITHUB_EVENT_PATH"), "GITHUB_EVENT_PATH")
    pull_request = event.get("pull_request") or {}
    notes: list[str] = []
    event_name = event_name or env.get("GITHUB_EVENT_NAME") or "push"
    ref = ref or env.get("GITHUB_REF") or ""
    match = _PR_REF.match(ref)
    if pr_number is None:
        if match:
            pr_number = int(match.group("number"))
        elif pull_request.get("number") is not None:
            pr_number = int(pull_request["number"])
    if not sha:
        head_sha = (pull_request.get("head") or {}).get("sha")
        if head_sha:
            # GITHUB_SHA of a pull_request event is the merge commit GitHub made for the
            # check; the commit the developer pushed is the PR's HEAD.
            sha = str(head_sha)
        else:
            sha = env.get("GITHUB_SHA", "")
            if event_name.startswith("pull_request") and sha:
                notes.append("no pull_request.head.sha in the event: using GITHUB_SHA")
    if default_branch is None:
        default_branch = (event.get("repository") or {}).get("default_branch")
    return GitFacts(
        event_name=event_name,
        ref=ref,
        sha=sha.lower(),
        pr_number=pr_number,
        default_branch=default_branch,
        repository=env.get("GITHUB_REPOSITORY") or None,
        server_url=env.get("GITHUB_SERVER_URL", "https://github.com"),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class TagPlan:
    """The tags (names only, most specific first) and whether to push by default."""

    version: str
    tags: tuple[str, ...]
    push_by_default: bool
    notes: tuple[str, ...] = ()


def default_rules(facts: GitFacts) -> tuple[list[TagRule], list[str]]:
    """The rules used when the `tags` input is empty (see the module docstring), and notes."""
    notes: list[str] = []
    rules: list[TagRule] = []
    if facts.event_name == "schedule":
        rules.append(TagRule("schedule"))
    elif facts.is_pull_request:
        rules.append(TagRule("ref", {"event": "pr"}))
    elif facts.git_tag is not None:
        if parse_semver(facts.git_tag) is None:
            notes.append(f"tag {facts.git_tag!r} is not semver: tagged as is, without latest")
            rules.append(TagRule("ref", {"event": "tag"}, latest_allowed=False))
        else:
            rules += [
                TagRule("semver", {"pattern": "{{version}}"}),
                TagRule("semver", {"pattern": "{{major}}.{{minor}}"}),
                TagRule("semver", {"pattern": "{{major}}"}, skip_major_zero=True),
            ]
    elif facts.branch is not None:
        rules.append(TagRule("ref", {"event": "branch"}))
        if facts.default_branch is None:
            notes.append("default branch unknown (no event file): no latest tag")
    elif facts.ref:
        notes.append(f"ref {facts.ref!r} is neither a branch, a tag nor a pull request")
    rules.append(TagRule("sha"))
    return rules, notes


def compute_tags(
    facts: GitFacts, rules: list[TagRule] | None = None, flavor: Flavor | None = None
) -> TagPlan:
    """The tags metadata-action would produce for these facts and rules (default: ours)."""
    flavor = flavor or Flavor()
    notes: list[str] = []
    on_default_branch = False
    if rules is None:
        rules, notes = default_rules(facts)
        # Our default set folds `type=raw,value=latest,enable={{is_default_branch}}` into
        # latest=auto, so that `latest` comes last like every other latest.
        on_default_branch = (
            facts.event_name != "schedule"
            and not facts.is_pull_request
            and facts.branch is not None
            and facts.branch == facts.default_branch
        )
    produced = evaluate_rules(facts, rules, flavor)
    tags = list(produced.tags)
    if flavor.wants_latest(produced.latest or on_default_branch):
        tags.append(flavor.latest_tag())
    sanitized = list(dict.fromkeys(tag for tag in map(sanitize_tag, tags) if tag))
    if not sanitized:
        raise InputError(
            "ref",
            f"no tag can be computed from ref {facts.ref!r} and sha {facts.sha!r}",
            fix="run on a branch, tag or pull request, pass ref and sha, or add a "
            "`type=raw,value=...` line to tags",
            why="every image is pushed under tags a human and a rollback can find",
            docs="build-push#checks-in-order",
        )
    return TagPlan(
        version=sanitized[0],
        tags=tuple(sanitized),
        # A fork's PR must not push (it has no credentials anyway), and a PR image is rarely
        # wanted in the registry: build it to prove it builds.
        push_by_default=not facts.is_pull_request,
        notes=(*facts.notes, *notes, *produced.notes),
    )


def created_timestamp(env: Mapping[str, str], now: datetime | None = None) -> str:
    """RFC 3339 UTC creation time; SOURCE_DATE_EPOCH wins (reproducible builds)."""
    epoch = env.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        moment = datetime.fromtimestamp(int(epoch), tz=UTC)
    else:
        moment = now or datetime.now(tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def oci_labels(
    facts: GitFacts, version: str, image_path: str, created: str, extra: Mapping[str, str]
) -> dict[str, str]:
    """The `org.opencontainers.image.*` labels metadata-action sets, then `extra` over them."""
    source = f"{facts.server_url}/{facts.repository}" if facts.repository else ""
    title = facts.repository.split("/")[-1] if facts.repository else image_path.split("/")[-1]
    labels = {
        "org.opencontainers.image.title": title,
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.url": source,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.revision": facts.sha,
    }
    labels = {key: value for key, value in labels.items() if value}
    labels.update(extra)
    return dict(sorted(labels.items()))
