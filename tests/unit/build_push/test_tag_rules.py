"""The `tags` and `flavor` inputs give the tags docker/metadata-action's README documents."""

from __future__ import annotations

import pytest

from fastapi_ci.build_push.tag_rules import parse_flavor, parse_rules
from fastapi_ci.build_push.tags import GitFacts, compute_tags
from fastapi_ci.errors import InputError

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"


def tags(
    ref: str, rules: str | None = None, flavor: str | None = None, event: str = "push"
) -> list[str]:
    facts = GitFacts(event_name=event, ref=ref, sha=SHA, default_branch="master", pr_number=2)
    return list(compute_tags(facts, parse_rules(rules), parse_flavor(flavor)).tags)


# metadata-action README, `type=semver`: git tag, pattern, output.
@pytest.mark.parametrize(
    ("git_tag", "pattern", "expected"),
    [
        ("v1.2.3", "{{raw}}", "v1.2.3"),
        ("v1.2.3", "{{version}}", "1.2.3"),
        ("v1.2.3", "{{major}}.{{minor}}", "1.2"),
        ("v1.2.3", "v{{major}}", "v1"),
        ("v1.2.3", "{{minor}}", "2"),
        ("v1.2.3", "{{patch}}", "3"),
        ("v2.0.8-beta.67", "{{raw}}", "v2.0.8-beta.67"),
        ("v2.0.8-beta.67", "{{version}}", "2.0.8-beta.67"),
        ("v2.0.8-beta.67", "{{major}}.{{minor}}", "2.0.8-beta.67"),
    ],
)
def test_semver_patterns_match_the_documented_table(
    git_tag: str, pattern: str, expected: str
) -> None:
    assert tags(f"refs/tags/{git_tag}", f"type=semver,pattern={pattern}", "latest=false") == [
        expected
    ]


# metadata-action README, `type=match`: git tag, pattern, group, output.
@pytest.mark.parametrize(
    ("git_tag", "pattern", "group", "expected"),
    [
        ("v1.2.3", r"\d.\d.\d", "0", "1.2.3"),
        ("v2.0.8-beta.67", "v(.*)", "1", "2.0.8-beta.67"),
        ("v2.0.8-beta.67", r"v(\d.\d)", "1", "2.0"),
        ("20200110-RC2", r"\d+", "0", "20200110"),
        ("p1/v1.2.3", r"p1/v(\d.\d.\d)", "1", "1.2.3"),
    ],
)
def test_match_patterns_match_the_documented_table(
    git_tag: str, pattern: str, group: str, expected: str
) -> None:
    rule = f"type=match,pattern={pattern},group={group}"
    assert tags(f"refs/tags/{git_tag}", rule, "latest=false") == [expected]


def test_semver_match_turns_a_monorepo_tag_into_version_minor_and_major() -> None:
    rules = "\n".join(
        rf"type=semver,pattern={pattern},match=api/v(\d.\d.\d)"
        for pattern in ("{{version}}", "{{major}}.{{minor}}", "{{major}}")
    )
    assert tags("refs/tags/api/v1.2.3", rules) == ["1.2.3", "1.2", "1", "latest"]
    # Another service's tag in the same repository makes no tag from these rules.
    with pytest.raises(InputError, match="no tag can be computed"):
        tags("refs/tags/web/v4.0.0", rules)


def test_semver_stable_tag_gets_latest_but_a_prerelease_does_not() -> None:
    rules = "type=semver,pattern={{version}}"
    assert tags("refs/tags/v1.2.3", rules) == ["1.2.3", "latest"]
    assert tags("refs/tags/v2.0.8-beta.67", rules) == ["2.0.8-beta.67"]


def test_ref_rules_follow_the_documented_table() -> None:
    rules = "type=ref,event=branch\ntype=ref,event=tag\ntype=ref,event=pr"
    assert tags("refs/heads/my/branch", rules) == ["my-branch"]
    assert tags("refs/tags/v2.0.8-beta.67", rules) == ["v2.0.8-beta.67", "latest"]
    assert tags("refs/pull/2/merge", rules, event="pull_request") == ["pr-2"]
    # latest=auto gives no latest for a branch, not even the default one (metadata-action).
    assert tags("refs/heads/master", rules) == ["master"]


def test_raw_values_in_all_three_spellings_and_expressions() -> None:
    rules = "type=raw,value=foo\ntype=raw,bar\nbaz\ntype=raw,value=mytag-{{branch}}-{{sha}}"
    assert tags("refs/heads/master", rules) == ["foo", "bar", "baz", "mytag-master-860c190"]


def test_raw_latest_enabled_only_on_the_default_branch() -> None:
    rules = "type=ref,event=branch\ntype=raw,value=latest,enable={{is_default_branch}}"
    assert tags("refs/heads/master", rules) == ["master", "latest"]
    assert tags("refs/heads/dev", rules) == ["dev"]


def test_priority_orders_tags_and_the_first_is_the_version() -> None:
    rules = "type=sha\ntype=raw,value=low\ntype=raw,value=top,priority=2000"
    facts = GitFacts(event_name="push", ref="refs/heads/dev", sha=SHA)
    plan = compute_tags(facts, parse_rules(rules))
    assert plan.tags == ("top", "low", "sha-860c190")
    assert plan.version == "top"


def test_sha_long_format_and_its_own_prefix() -> None:
    assert tags("refs/heads/dev", "type=sha,format=long,prefix=") == [SHA]


def test_flavor_prefix_and_suffix_apply_to_every_tag_but_not_latest_by_default() -> None:
    rules = "type=semver,pattern={{version}}\ntype=ref,event=branch"
    flavor = "prefix=api-\nsuffix=-slim"
    assert tags("refs/tags/v1.2.3", rules, flavor) == ["api-1.2.3-slim", "latest"]
    on_latest = "prefix=api-,onlatest=true\nsuffix=-slim,onlatest=true"
    assert tags("refs/tags/v1.2.3", rules, on_latest) == ["api-1.2.3-slim", "api-latest-slim"]


def test_a_rules_own_prefix_wins_over_the_flavor_prefix() -> None:
    # metadata-action's setFlavor: sha- (type=sha's default prefix) and pr- stay.
    assert tags("refs/heads/dev", "type=sha", "prefix=api-\nsuffix=-x") == ["sha-860c190-x"]


def test_flavor_latest_true_and_false_override_auto() -> None:
    assert tags("refs/heads/dev", "type=ref,event=branch", "latest=true") == ["dev", "latest"]
    assert tags("refs/tags/v1.2.3", "type=semver,pattern={{version}}", "latest=false") == ["1.2.3"]


def test_flavor_applies_to_the_default_rules_too() -> None:
    assert tags("refs/heads/master", flavor="latest=false\nsuffix=-arm") == [
        "master-arm",
        "sha-860c190-arm",
    ]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("type=nope", "unknown type 'nope'"),
        ("type=edge", "type=edge is not supported"),
        ("type=semver", "type=semver needs a pattern"),
        ("type=ref,event=push", "event=branch, tag or pr"),
        ("type=sha,colour=red", "has no attribute 'colour'"),
        ("type=match,pattern=(", "is not a regex"),
        ("type=raw,value=x,enable=yes", "enable must be 'true' or 'false'"),
    ],
)
def test_bad_tag_rules_are_input_errors_naming_tags(rules: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        tags("refs/tags/v1.2.3", rules)
    assert caught.value.input_name == "tags"


@pytest.mark.parametrize(
    ("flavor", "message"),
    [("latest=sometimes", "auto, true or false"), ("colour=red", "unknown entry 'colour'")],
)
def test_bad_flavor_is_an_input_error_naming_flavor(flavor: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_flavor(flavor)
    assert caught.value.input_name == "flavor"
