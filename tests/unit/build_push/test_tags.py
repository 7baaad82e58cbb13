"""Tags and labels follow docker/metadata-action's rules for each kind of event."""

from __future__ import annotations

import pytest

from fastapi_ci.build_push.tags import (
    GitFacts,
    compute_tags,
    created_timestamp,
    git_facts,
    oci_labels,
    sanitize_tag,
)
from fastapi_ci.errors import InputError
from tests.support.components import REPO_ROOT

EVENTS = REPO_ROOT / "tests" / "fixtures" / "build_push" / "events"
SHA = "1f0e3c5b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"


def tags_for(ref: str, event: str = "push", default_branch: str | None = "main") -> list[str]:
    facts = GitFacts(event_name=event, ref=ref, sha=SHA, default_branch=default_branch)
    return list(compute_tags(facts).tags)


def test_branch_push_gets_the_sanitized_branch_and_the_short_sha() -> None:
    assert tags_for("refs/heads/feature/Login page") == ["feature-Login-page", "sha-1f0e3c5"]


def test_default_branch_push_also_gets_latest() -> None:
    assert tags_for("refs/heads/main") == ["main", "sha-1f0e3c5", "latest"]


def test_unknown_default_branch_gets_no_latest_and_says_why() -> None:
    plan = compute_tags(GitFacts(event_name="push", ref="refs/heads/main", sha=SHA))
    assert "latest" not in plan.tags
    assert any("default branch unknown" in note for note in plan.notes)


def test_semver_tag_gets_version_minor_major_and_latest() -> None:
    assert tags_for("refs/tags/v1.2.3") == ["1.2.3", "1.2", "1", "sha-1f0e3c5", "latest"]


def test_semver_build_metadata_is_dropped_like_node_semver_version() -> None:
    assert tags_for("refs/tags/v1.2.3+build.7")[:3] == ["1.2.3", "1.2", "1"]


def test_prerelease_gets_only_the_full_version_and_no_latest() -> None:
    assert tags_for("refs/tags/v1.2.3-rc.1") == ["1.2.3-rc.1", "sha-1f0e3c5"]


def test_major_version_zero_gets_no_major_tag() -> None:
    assert tags_for("refs/tags/v0.4.1") == ["0.4.1", "0.4", "sha-1f0e3c5", "latest"]


def test_non_semver_tag_is_used_as_is_without_latest() -> None:
    plan = compute_tags(GitFacts(event_name="push", ref="refs/tags/release/2024", sha=SHA))
    assert plan.tags == ("release-2024", "sha-1f0e3c5")
    assert plan.notes


def test_schedule_gets_nightly() -> None:
    assert tags_for("refs/heads/main", event="schedule") == ["nightly", "sha-1f0e3c5"]


def test_pull_request_gets_pr_number_and_head_sha_and_is_not_pushed_by_default() -> None:
    facts = git_facts(
        {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_REF": "refs/pull/42/merge",
            "GITHUB_SHA": "e" * 40,  # GitHub's merge commit: not what the developer pushed
            "GITHUB_EVENT_PATH": str(EVENTS / "pull-request.json"),
        }
    )
    plan = compute_tags(facts)
    assert plan.tags == ("pr-42", "sha-9a8b7c6")
    assert facts.sha == "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
    assert plan.push_by_default is False


def test_pull_request_number_comes_from_the_event_when_the_ref_has_none() -> None:
    facts = git_facts(
        {
            "GITHUB_EVENT_NAME": "pull_request_target",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_EVENT_PATH": str(EVENTS / "pull-request.json"),
        }
    )
    assert compute_tags(facts).tags[0] == "pr-42"


def test_pull_request_without_a_number_is_an_input_error() -> None:
    with pytest.raises(InputError, match="pr-number"):
        compute_tags(GitFacts(event_name="pull_request", ref="", sha=SHA))


def test_flags_override_the_environment() -> None:
    facts = git_facts(
        {
            "GITHUB_REF": "refs/heads/dev",
            "GITHUB_SHA": "a" * 40,
            "GITHUB_EVENT_PATH": str(EVENTS / "push-main.json"),
        },
        ref="refs/tags/v2.0.0",
        sha="B" * 40,
        default_branch="trunk",
    )
    assert (facts.ref, facts.sha, facts.default_branch) == ("refs/tags/v2.0.0", "b" * 40, "trunk")


def test_default_branch_comes_from_the_event_file() -> None:
    facts = git_facts(
        {
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_SHA": SHA,
            "GITHUB_EVENT_PATH": str(EVENTS / "push-main.json"),
        }
    )
    assert "latest" in compute_tags(facts).tags


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("feature/x", "feature-x"),
        ("a//b@@c", "a-b-c"),
        ("-leading", "leading"),
        (".dot", "dot"),
        ("x" * 200, "x" * 128),
        ("Ünïcode", "n-code"),
    ],
)
def test_sanitize_tag_makes_engine_valid_tags(raw: str, tag: str) -> None:
    assert sanitize_tag(raw) == tag


def test_oci_labels_name_source_revision_version_and_created() -> None:
    facts = GitFacts(event_name="push", ref="refs/tags/v1.2.3", sha=SHA, repository="acme/orders")
    labels = oci_labels(facts, "1.2.3", "acme/orders", "2024-01-02T03:04:05Z", {"team": "core"})
    assert labels == {
        "org.opencontainers.image.created": "2024-01-02T03:04:05Z",
        "org.opencontainers.image.revision": SHA,
        "org.opencontainers.image.source": "https://github.com/acme/orders",
        "org.opencontainers.image.title": "orders",
        "org.opencontainers.image.url": "https://github.com/acme/orders",
        "org.opencontainers.image.version": "1.2.3",
        "team": "core",
    }


def test_source_date_epoch_makes_created_reproducible() -> None:
    assert created_timestamp({"SOURCE_DATE_EPOCH": "0"}) == "1970-01-01T00:00:00Z"
