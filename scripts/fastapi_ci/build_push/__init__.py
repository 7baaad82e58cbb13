"""build-push: a policy-checked BuildKit build, metadata-action tags, a retrying push.

The order is the cheapest failure first: inputs, tags, the Dockerfile policy (no Docker
needed), registry credentials (seconds), then the build (minutes), the size budget, and
the push. `dry-run` stops after the policy and prints the plan as JSON.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from fastapi_ci.action_io import Action, ActionInputs, ActionResult, Annotation, Console
from fastapi_ci.build_push.build import (
    Builder,
    BuildRequest,
    BuildxOutput,
    CacheMode,
    ProvenanceMode,
    build_by_digest,
    build_environment,
    buildx_command,
    engine_command,
    engine_platform,
    resolve_cache,
    run_build,
    scratch_dir,
)
from fastapi_ci.build_push.build_secrets import (
    BuildSecret,
    materialize,
    parse_secrets,
    secret_values,
)
from fastapi_ci.build_push.dockerfile import parse_dockerfile
from fastapi_ci.build_push.platforms import read_pushed, runs_as_root, valid_platform
from fastapi_ci.build_push.policy import RULES, Finding, check_dockerfile, target_stage
from fastapi_ci.build_push.push import login, push_tags, with_registry_retries
from fastapi_ci.build_push.summary import (
    BYTES_PER_MB,
    BuildPushReport,
    Layer,
    PlatformReport,
    PolicyFinding,
    render_markdown,
    render_text,
)
from fastapi_ci.build_push.tag_rules import parse_flavor, parse_rules
from fastapi_ci.build_push.tags import compute_tags, created_timestamp, git_facts, oci_labels
from fastapi_ci.clients.docker_engine import (
    DockerCli,
    Engine,
    find_docker_cli,
    private_docker_config,
)
from fastapi_ci.clients.ecr import Ecr, region_of
from fastapi_ci.clients.registry import (
    ImageReference,
    RegistryCredentials,
    get_manifest,
    parse_reference,
    put_manifest,
)
from fastapi_ci.errors import CheckFailed, InputError, explanation
from fastapi_ci.input_files import read_text_file
from fastapi_ci.retry import RetryPolicy

ProvenanceInput = Literal["false", "true", "min", "max"]

# Finding and check_dockerfile: what init, the composition above build-push, builds on.
__all__ = ["BUILD_PUSH", "BuildPushInputs", "Finding", "check_dockerfile", "run_build_push"]

LARGEST_LAYERS = 5
CREATED_BY_WIDTH = 120


def _key_value(items: list[str], what: str) -> list[str]:
    for item in items:
        if "=" not in item or item.startswith("="):
            raise ValueError(f"each {what} must be KEY=VALUE, got {item!r}")
    return items


def _parsed_or_value_error(parse: Callable[[str | None], object], value: str | None) -> str | None:
    """Check `value` parses (pydantic reports a ValueError under the input's name)."""
    try:
        parse(value)
    except InputError as error:
        raise ValueError(error.message.removeprefix(f"input '{error.input_name}': ")) from None
    return value


class BuildPushInputs(ActionInputs):
    """Inputs of `actions/build-push/action.yml` and `fastapi-ci build-push`."""

    image: str = Field(
        description="The image repository, without a tag (ghcr.io/acme/orders, "
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders); tags are computed."
    )
    context: str = Field(default=".", description="The build context directory.")
    dockerfile: str | None = Field(
        default=None, description="The Dockerfile (default: CONTEXT/Dockerfile)."
    )
    push: bool | None = Field(
        default=None,
        description="Push the image (default: true, except for pull_request events).",
    )
    build_args: list[str] = Field(
        default_factory=list, description="Build arguments, KEY=VALUE, whitespace-separated."
    )
    labels: list[str] = Field(
        default_factory=list,
        description="Extra labels, KEY=VALUE, added to (or overriding) the OCI labels.",
    )
    registry_username: str | None = Field(
        default=None,
        description="Registry user (default for ghcr.io: GITHUB_ACTOR). Unset: the engine's "
        "own login (docker/login-action) is used.",
    )
    registry_password: SecretStr | None = Field(
        default=None, description="Registry password or token (GHCR: GITHUB_TOKEN)."
    )
    ecr: bool = Field(
        default=False, description="Log in to AWS ECR with the job's AWS credentials (boto3)."
    )
    ecr_create_repository: bool = Field(
        default=False, description="With ecr: create the repository when it does not exist."
    )
    aws_region: str | None = Field(
        default=None,
        description="With ecr: the AWS region (default: AWS_REGION, else the image's host).",
    )
    aws_endpoint_url: str | None = Field(
        default=None, description="With ecr: another ECR endpoint (default: AWS_ENDPOINT_URL)."
    )
    cache: CacheMode = Field(
        default="auto",
        description="Build cache with buildx: gha, registry (IMAGE:buildcache), none, or auto "
        "(gha when its token is available, else registry when pushing). Without buildx the "
        "engine's layer cache is used.",
    )
    # NOTE: not `no-cache` (build-push-action's name): a CLI flag `--no-cache` would be read
    # by argparse's BooleanOptionalAction as the negative form and always give false.
    ignore_cache: bool = Field(
        default=False, description="Rebuild every layer, ignoring any cache (--no-cache)."
    )
    provenance: ProvenanceInput = Field(
        default="false",
        description="Attach BuildKit's SLSA provenance attestation (buildx only): false, "
        "true (= min), min or max. Off by default: it adds an unknown/unknown platform "
        "entry that some runtimes refuse.",
    )
    sbom: bool = Field(
        default=False,
        description="Attach BuildKit's SBOM attestation (buildx only; needs the "
        "docker/buildkit-syft-scanner image). Off by default, as provenance.",
    )
    sbom_generator: str | None = Field(
        default=None,
        description="With sbom: the scanner image BuildKit runs (default "
        "docker/buildkit-syft-scanner), e.g. a mirror of it.",
    )
    platforms: list[str] = Field(
        default_factory=list,
        description="Target platforms, comma or whitespace separated (linux/amd64,linux/arm64); "
        "more than one needs buildx and pushes one manifest list. Default: the builder's.",
    )
    target: str | None = Field(
        default=None, description="The Dockerfile stage to build (docker build --target)."
    )
    secrets: SecretStr | None = Field(
        default=None,
        description="Build secrets, one per line: id=ID,env=VAR, id=ID,src=FILE or ID=VALUE; "
        "read in a RUN --mount=type=secret,id=ID step, never stored in a layer. Masked.",
        json_schema_extra={"multiline": True},
    )
    builder: Literal["auto", "buildx", "docker"] = Field(
        default="auto",
        description="auto (buildx when the docker client has it, else the engine's BuildKit), "
        "buildx, or docker.",
    )
    policy: bool = Field(default=True, description="Check the Dockerfile policy before building.")
    policy_ignore: list[str] = Field(
        default_factory=list,
        description="Policy rules to skip: " + ", ".join(RULES) + ".",
    )
    size_budget_mb: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="Fail when the image is larger (MB, as docker counts).",
    )
    push_attempts: int = Field(
        default=4, ge=1, le=10, description="Attempts per push/login on transient errors."
    )
    timeout_minutes: float = Field(
        default=30, gt=0, le=24 * 60, description="Stop a build running longer."
    )
    dry_run: bool = Field(
        default=False, description="Print the plan (tags, labels, build args, push) as JSON only."
    )
    ref: str | None = Field(default=None, description="Git ref (default: GITHUB_REF).")
    sha: str | None = Field(
        default=None, description="Commit (default: the PR's head sha, else GITHUB_SHA)."
    )
    event_name: str | None = Field(
        default=None, description="GitHub event (default: GITHUB_EVENT_NAME)."
    )
    pr_number: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Pull request number (default: from the ref/event).",
    )
    default_branch: str | None = Field(
        default=None,
        description="The branch that gets `latest` "
        "(default: the event's repository.default_branch).",
    )
    tags: str | None = Field(
        default=None,
        description="docker/metadata-action `tags` lines (type=semver,pattern={{version}}, "
        "type=raw,value=edge, type=sha, ...) instead of the default set; type=semver also "
        "takes match=REGEX for monorepo tags (api/v1.2.3).",
        json_schema_extra={"multiline": True},
    )
    flavor: str | None = Field(
        default=None,
        description="docker/metadata-action `flavor` lines: latest=auto|true|false, "
        "prefix=P[,onlatest=true], suffix=S[,onlatest=true].",
        json_schema_extra={"multiline": True},
    )

    @field_validator("image")
    @classmethod
    def _image_is_a_repository(cls, value: str) -> str:
        # metadata-action lowercases image names: `${{ github.repository }}` often is not.
        reference = parse_reference(value.strip().lower())
        if reference.tag or reference.digest:
            raise ValueError("give the repository without a tag or digest; tags are computed")
        return reference.repository

    @field_validator("sha")
    @classmethod
    def _sha_is_a_commit(cls, value: str | None) -> str | None:
        # The tag `sha-<7 hex>` is cut from it: `zzz` would make a tag that names no commit.
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{7,64}", value):
            raise ValueError(f"expected a commit hash (7 to 64 hex digits), got {value!r}")
        return value.lower() if value is not None else None

    @field_validator("platforms")
    @classmethod
    def _platforms_are_os_arch(cls, value: list[str]) -> list[str]:
        platforms = [item for each in value for item in each.split(",") if item]
        wrong = [platform for platform in platforms if not valid_platform(platform)]
        if wrong:
            raise ValueError(f"{wrong[0]!r} is not os/arch[/variant] (linux/arm64)")
        return list(dict.fromkeys(platforms))

    @field_validator("secrets")
    @classmethod
    def _secrets_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _parsed_or_value_error(parse_secrets, value.get_secret_value())
        return value

    @field_validator("tags")
    @classmethod
    def _tag_rules_parse(cls, value: str | None) -> str | None:
        return _parsed_or_value_error(parse_rules, value)

    @field_validator("flavor")
    @classmethod
    def _flavor_parses(cls, value: str | None) -> str | None:
        return _parsed_or_value_error(parse_flavor, value)

    @field_validator("build_args")
    @classmethod
    def _build_args_are_pairs(cls, value: list[str]) -> list[str]:
        return _key_value(value, "build arg")

    @field_validator("labels")
    @classmethod
    def _labels_are_pairs(cls, value: list[str]) -> list[str]:
        return _key_value(value, "label")

    @field_validator("policy_ignore")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        unknown = [rule for rule in value if rule not in RULES]
        if unknown:
            raise ValueError(f"unknown rule {unknown[0]!r}; rules: {', '.join(RULES)}")
        return value

    def cross_input_errors(self, env: Mapping[str, str]) -> list[InputError]:
        """The context and Dockerfile exist, the target is a stage, credentials are whole."""
        problems: list[InputError] = []
        context, dockerfile = Path(self.context), self.dockerfile_path
        if not context.is_dir():
            problems.append(
                InputError(
                    "context",
                    f"{context} is not a directory",
                    fix="set context to the directory the Dockerfile copies from",
                    docs="build-push#inputs-and-outputs",
                )
            )
        if not dockerfile.is_file():
            if self.dockerfile or context.is_dir():  # else the context's error says it
                problems.append(
                    InputError(
                        "dockerfile",
                        f"{dockerfile} does not exist",
                        fix="set dockerfile, or put a Dockerfile in the context",
                        docs="build-push#inputs-and-outputs",
                    )
                )
        elif self.target is not None:
            try:
                target_stage(
                    parse_dockerfile(str(dockerfile), read_text_file(dockerfile, "dockerfile"), {}),
                    self.target,
                )
            except InputError as error:
                problems.append(error)
        registry = parse_reference(self.image).registry
        if self.ecr:
            if not ecr_region(self, registry, env):
                problems.append(no_ecr_region())
        elif self.registry_password is None:
            if self.registry_username:
                problems.append(no_registry_password())
        elif not registry_username(self, registry, env):
            problems.append(no_registry_username())
        return problems

    @property
    def dockerfile_path(self) -> Path:
        """The Dockerfile: the input, else CONTEXT/Dockerfile."""
        return Path(self.dockerfile) if self.dockerfile else Path(self.context) / "Dockerfile"


def no_ecr_region() -> InputError:
    """ecr without a region to log in to (checked with the inputs, and again at login)."""
    return InputError(
        "aws-region",
        "is required with ecr (no AWS_REGION, no ECR host)",
        why="an ECR login token and repository belong to one region",
        fix="set aws-region, or AWS_REGION (aws-actions/configure-aws-credentials does)",
        docs="build-push#inputs-and-outputs",
    )


def no_registry_password() -> InputError:
    """A user without a password: the login would fail only after the build."""
    return InputError(
        "registry-password",
        "is required with registry-username",
        why="a login needs both; without one, the push would fail after the build",
        fix="pass registry-password, or neither to use an earlier docker/login-action",
        docs="build-push#inputs-and-outputs",
    )


def no_registry_username() -> InputError:
    """A password without a user to log in as (no `github.actor` default off ghcr.io)."""
    return InputError(
        "registry-username",
        "is required with registry-password",
        why="only ghcr.io has a default user (the workflow's actor)",
        fix="set registry-username, or leave both empty to use an earlier docker/login-action",
        docs="build-push#inputs-and-outputs",
    )


def ecr_region(inputs: BuildPushInputs, registry: str, env: Mapping[str, str]) -> str | None:
    """The AWS region to log in to ECR in: the input, the environment's, or the image host's."""
    return (
        inputs.aws_region
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or region_of(registry)
    )


def registry_username(inputs: BuildPushInputs, registry: str, env: Mapping[str, str]) -> str | None:
    """The user to log in as: the input, else (on ghcr.io) the workflow's actor."""
    if not inputs.registry_username and registry == "ghcr.io":
        return env.get("GITHUB_ACTOR")
    return inputs.registry_username


def _pairs(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def display_path(path: Path, env: Mapping[str, str]) -> str:
    """The path as GitHub expects it in an annotation: relative to the workspace."""
    root = Path(env.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def registry_credentials(
    inputs: BuildPushInputs,
    reference: ImageReference,
    env: Mapping[str, str],
    console: Console,
    policy: RetryPolicy,
) -> RegistryCredentials | None:
    """Credentials from ECR, or the inputs; None: rely on the engine's own login."""
    # The inputs model checked these rules with the environment they were read from.
    if inputs.ecr:
        region = ecr_region(inputs, reference.registry, env)
        if not region:
            raise no_ecr_region()
        ecr = Ecr(region, env, inputs.aws_endpoint_url, policy)
        ecr_login = ecr.login()
        console.mask(ecr_login.credentials.password.get_secret_value())
        if ecr_login.registry != reference.registry:
            console.warning(
                f"ECR's registry is {ecr_login.registry}, the image is on {reference.registry}",
                title="build-push",
            )
        if ecr.ensure_repository(reference.path, inputs.ecr_create_repository):
            console.info(f"created the ECR repository {reference.path}")
        return RegistryCredentials(
            reference.registry, ecr_login.credentials.username, ecr_login.credentials.password
        )
    if inputs.registry_password is None:
        return None
    username = registry_username(inputs, reference.registry, env)
    if not username:
        raise no_registry_username()
    return RegistryCredentials(reference.registry, username, inputs.registry_password)


def _largest_layers(engine: Engine, image_id: str) -> list[Layer]:
    layers = sorted(engine.history(image_id), key=lambda entry: -int(entry.get("Size", 0)))
    return [
        Layer(
            size_mb=round(int(entry.get("Size", 0)) / BYTES_PER_MB, 1),
            created_by=" ".join(str(entry.get("CreatedBy", "")).split())[:CREATED_BY_WIDTH],
        )
        for entry in layers[:LARGEST_LAYERS]
        if int(entry.get("Size", 0)) > 0
    ]


def _plan_json(report: BuildPushReport) -> str:
    """The plan a dry run prints: what would be built, tagged and pushed, and the policy."""
    return report.model_dump_json(
        indent=2,
        include={
            "image",
            "version",
            "tags",
            "labels",
            "build_args",
            "push",
            "dockerfile",
            "context",
            "builder",
            "cache",
            "provenance",
            "sbom",
            "platforms_requested",
            "target",
            "secret_ids",
            "policy",
            "notes",
        },
    )


def _result(
    report: BuildPushReport,
    passed: bool,
    headline: str,
    annotations: list[Annotation],
    outputs: dict[str, str] | None = None,
    text: str | None = None,
    explained: Sequence[str] = (),
) -> ActionResult:
    return ActionResult(
        passed=passed,
        text=text if text is not None else render_text(report, headline),
        summary="\n\n".join([render_markdown(report, passed, headline), *explained]),
        outputs=outputs or {},
        report=report.model_dump(mode="json"),
        annotations=annotations,
    )


@dataclass
class _Plan:
    """What the inputs and the git facts ask for, before Docker is touched."""

    reference: ImageReference
    dockerfile: Path
    shown_dockerfile: str
    secrets: list[BuildSecret]
    tag_names: tuple[str, ...]
    push: bool
    report: BuildPushReport
    annotations: list[Annotation]

    def outputs(self) -> dict[str, str]:
        """The outputs known before the build: the tags and the version."""
        return {
            "tags": "\n".join(self.report.tags),
            "tag-names": "\n".join(self.tag_names),
            "version": self.report.version,
        }


def run_build_push(inputs: BuildPushInputs, console: Console) -> ActionResult:
    """Plan, check, build, measure and push the image."""
    plan = _plan(inputs, console)
    refused = _policy_or_dry_run_result(inputs, plan, console.env)
    if refused is not None:
        return refused
    policy = RetryPolicy(attempts=inputs.push_attempts)
    engine = Engine(console.env)
    credentials = _log_in(inputs, plan, engine, console, policy)
    cli = find_docker_cli(console.env)
    builder, cache = _choose_builder(inputs, cli, plan, console.env)
    # By digest (then checked per platform, then tagged) whenever buildx pushes itself.
    attest = inputs.provenance != "false" or inputs.sbom
    by_digest = builder == "buildx" and plan.push and (len(inputs.platforms) > 1 or attest)
    with (
        scratch_dir() as scratch,
        private_docker_config(credentials, console.env) as docker_config,
    ):
        build = _Build(
            request=_build_request(inputs, plan, cache, by_digest, Path(scratch), console.env),
            cli=cli,
            cli_env=build_environment(console.env, docker_config),
            scratch=Path(scratch),
            timeout=inputs.timeout_minutes * 60,
            outputs={
                **plan.outputs(),
                "pushed": "false",
                "digest": "",
                "platform-digests": "{}",
                "image": plan.report.tags[0],
            },
        )
        console.info(
            f"building {plan.reference.repository} with {builder} ({cli.path} {cli.version})"
        )
        registry = _Registry(plan.reference, credentials, policy, console)
        if by_digest or len(inputs.platforms) > 1:
            return _build_by_digest(inputs, plan, build, registry, by_digest)
        return _build_then_push(inputs, plan, build, registry, engine)


def _plan(inputs: BuildPushInputs, console: Console) -> _Plan:
    """Tags, labels and the Dockerfile policy's findings: the report before any build."""
    env = console.env
    secrets = parse_secrets(inputs.secrets.get_secret_value() if inputs.secrets else None)
    for value in secret_values(secrets, env):
        console.mask(value)  # before any line is printed: a RUN step may echo it
    reference = parse_reference(inputs.image)
    context, dockerfile = Path(inputs.context), inputs.dockerfile_path
    facts = git_facts(
        env,
        event_name=inputs.event_name,
        ref=inputs.ref,
        sha=inputs.sha,
        pr_number=inputs.pr_number,
        default_branch=inputs.default_branch,
    )
    tags = compute_tags(facts, parse_rules(inputs.tags), parse_flavor(inputs.flavor))
    push = inputs.push if inputs.push is not None else tags.push_by_default
    build_args = _pairs(inputs.build_args)
    labels = oci_labels(
        facts, tags.version, reference.path, created_timestamp(env), _pairs(inputs.labels)
    )
    findings = (
        check_dockerfile(
            dockerfile,
            context,
            build_args,
            inputs.policy_ignore,
            target=inputs.target,
            platforms=inputs.platforms,
        )
        if inputs.policy
        else []
    )
    shown_dockerfile = display_path(dockerfile, env)
    notes = list(tags.notes)
    if inputs.push is None and not push:
        notes.append("pull request: built, not pushed (set push: true to push)")
    report = BuildPushReport(
        image=reference.repository,
        version=tags.version,
        tags=[reference.with_tag(tag) for tag in tags.tags],
        labels=labels,
        build_args=build_args,
        push=push,
        dry_run=inputs.dry_run,
        dockerfile=str(dockerfile),
        context=str(context),
        builder=inputs.builder,
        cache=inputs.cache,
        provenance=inputs.provenance,
        sbom=inputs.sbom,
        platforms_requested=inputs.platforms,
        target=inputs.target,
        secret_ids=[secret.id for secret in secrets],
        policy=[PolicyFinding.of(finding) for finding in findings],
        notes=notes,
        size_budget_mb=inputs.size_budget_mb,
    )
    return _Plan(
        reference=reference,
        dockerfile=dockerfile,
        shown_dockerfile=shown_dockerfile,
        secrets=secrets,
        tag_names=tags.tags,
        push=push,
        report=report,
        annotations=[finding.annotation(shown_dockerfile) for finding in findings],
    )


def _policy_or_dry_run_result(
    inputs: BuildPushInputs, plan: _Plan, env: Mapping[str, str]
) -> ActionResult | None:
    """The result when nothing is to be built: a policy error, or a dry run."""
    report = plan.report
    errors = report.policy_errors
    if errors:
        headline = (
            f"Dockerfile policy: {len(errors)} error{'s' if len(errors) != 1 else ''} in "
            f"{plan.shown_dockerfile}; nothing was built"
        )
        # A dry run prints its plan whatever the verdict: it is what the run is for.
        text = _plan_json(report) + "\n" + render_text(report, headline) if inputs.dry_run else None
        # A result, not an error, so the report and annotations are written: the summary
        # says why and links the docs, as an error's would.
        explained = explanation(
            why="each rule stops what breaks or weakens the image in production: root at "
            "runtime, a base that changes under you, caches and unpinned packages in its "
            "layers, a migration run by every replica",
            fix="fix each finding where it is annotated, or skip a rule with policy-ignore",
            docs="build-push#checks-in-order",
            env=env,
        )
        return _result(report, False, headline, plan.annotations, text=text, explained=explained)
    if inputs.dry_run:
        return _result(
            report,
            True,
            "dry run: nothing built or pushed",
            plan.annotations,
            outputs=plan.outputs(),
            text=_plan_json(report),
        )
    return None


def _log_in(
    inputs: BuildPushInputs, plan: _Plan, engine: Engine, console: Console, policy: RetryPolicy
) -> RegistryCredentials | None:
    """Log the engine in to the registry, when there is a reason to; the credentials used."""
    # Given credentials serve a build that is not pushed too: its base may be private, and
    # a builder outside the engine (buildx's remote or container driver) has no other login.
    # (ECR only when pushing: its login may create the repository.)
    given = plan.push or (inputs.registry_password is not None and not inputs.ecr)
    if not given:
        return None
    credentials = registry_credentials(inputs, plan.reference, console.env, console, policy)
    if credentials is not None:
        login(engine, credentials, policy, console)
    return credentials


def _choose_builder(
    inputs: BuildPushInputs, cli: DockerCli, plan: _Plan, env: Mapping[str, str]
) -> tuple[Builder, CacheMode]:
    """buildx or the engine's BuildKit, as asked and as available; the cache it uses."""
    if inputs.builder == "buildx" and not cli.has_buildx:
        raise CheckFailed(
            f"builder: buildx was asked for, but {cli.path} {cli.version} has no buildx plugin",
            fix="install buildx (docker/setup-buildx-action), or use builder: auto",
            docs="build-push#several-platforms-a-stage-build-secrets",
        )
    builder: Builder = "buildx" if cli.has_buildx and inputs.builder != "docker" else "docker"
    if len(inputs.platforms) > 1 and builder == "docker":
        raise CheckFailed(
            f"platforms: {len(inputs.platforms)} platforms need docker buildx, and "
            f"{cli.path} {cli.version} has none",
            why="a multi-platform image is a manifest list, which only a BuildKit builder "
            "(buildx with the docker-container, remote or kubernetes driver) produces",
            fix="add docker/setup-qemu-action and docker/setup-buildx-action before this step",
            docs="build-push#troubleshooting",
        )
    report = plan.report
    cache, cache_note = resolve_cache(inputs.cache, builder, env, plan.push)
    if cache_note:
        report.notes.append(cache_note)
    attest = inputs.provenance != "false" or inputs.sbom
    if attest and builder == "docker":
        report.notes.append("provenance and sbom need buildx: built without attestations")
    elif attest and not plan.push:
        report.notes.append(
            "provenance and sbom are attached to a pushed digest: none when not pushing"
        )
    report.builder, report.cache = builder, cache
    return builder, cache


@dataclass(frozen=True)
class _Build:
    """One build to run: the request, the client and its environment, where files go."""

    request: BuildRequest
    cli: DockerCli
    cli_env: dict[str, str]
    scratch: Path
    timeout: float
    outputs: dict[str, str]

    @property
    def iidfile(self) -> Path:
        """Where the builder writes the image id."""
        return self.scratch / "iid"

    @property
    def metadata_file(self) -> Path:
        """Where buildx writes its metadata (the pushed digest)."""
        return self.scratch / "metadata.json"


def _build_request(
    inputs: BuildPushInputs,
    plan: _Plan,
    cache: CacheMode,
    by_digest: bool,
    scratch: Path,
    env: Mapping[str, str],
) -> BuildRequest:
    """What to build: the plan's tags and labels, the inputs' build options, the secrets."""
    report, reference = plan.report, plan.reference
    return BuildRequest(
        context=Path(inputs.context),
        dockerfile=plan.dockerfile,
        tags=tuple(report.tags),
        labels=report.labels,
        build_args=report.build_args,
        no_cache=inputs.ignore_cache,
        cache=cache,
        cache_ref=reference.with_tag("buildcache"),
        cache_scope=reference.path,
        provenance=_provenance_mode(inputs.provenance) if by_digest else "false",
        sbom=inputs.sbom and by_digest,
        sbom_generator=inputs.sbom_generator,
        platforms=tuple(inputs.platforms),
        target=inputs.target,
        secrets=tuple(materialize(plan.secrets, env, scratch)),
        repository=reference.repository,
    )


def _build_by_digest(
    inputs: BuildPushInputs, plan: _Plan, build: _Build, registry: _Registry, by_digest: bool
) -> ActionResult:
    """buildx builds (and pushes, by digest); the list is checked per platform, then tagged."""
    report, reference = plan.report, plan.reference
    output: BuildxOutput = "digest" if by_digest else "none"
    command = buildx_command(
        build.cli,
        build.request,
        iidfile=build.iidfile,
        metadata_file=build.metadata_file,
        output=output,
    )
    started = time.monotonic()
    digest = with_registry_retries(
        lambda: build_by_digest(
            command, build.cli_env, registry.console, build.metadata_file, build.timeout
        ),
        what=f"build and push of {reference.repository} by digest",
        policy=registry.policy,
        console=registry.console,
    )
    report.build_seconds = round(time.monotonic() - started, 2)
    if not by_digest:
        report.notes.append(
            f"{len(inputs.platforms)} platforms built, not pushed: a manifest list "
            "cannot be loaded into the engine, and its per-platform size and user "
            "are read from the registry after a push"
        )
        return _result(report, True, "built (not pushed)", plan.annotations, build.outputs)
    checked = _check_platforms(inputs, report, registry, digest, build.outputs)
    if checked:
        headline = "; ".join(checked) + f"; pushed by digest {digest}, not tagged"
        plan.annotations.append(
            _failure_annotation(headline, plan.shown_dockerfile, "per-platform checks")
        )
        return _result(report, False, headline, plan.annotations, build.outputs)
    _tag_digest(registry, plan.tag_names, digest)
    platforms = ", ".join(entry.platform for entry in report.platforms)
    headline = f"pushed {reference.with_digest(digest)} ({platforms})"
    return _result(report, True, headline, plan.annotations, build.outputs)


def _build_then_push(
    inputs: BuildPushInputs, plan: _Plan, build: _Build, registry: _Registry, engine: Engine
) -> ActionResult:
    """Build into the engine, measure against the budget, then push the tags."""
    report, reference = plan.report, plan.reference
    command = (
        buildx_command(
            build.cli, build.request, iidfile=build.iidfile, metadata_file=build.metadata_file
        )
        if report.builder == "buildx"
        else engine_command(build.cli, build.request, iidfile=build.iidfile)
    )
    outcome = run_build(
        command,
        build.cli_env,
        registry.console,
        iidfile=build.iidfile,
        timeout_seconds=build.timeout,
    )
    report.image_id, report.build_seconds = outcome.image_id, round(outcome.seconds, 2)
    report.size_mb = round(engine.image_size(outcome.image_id) / BYTES_PER_MB, 1)
    outputs = build.outputs
    outputs.update({"image-id": outcome.image_id, "size-mb": f"{report.size_mb:.1f}"})
    if inputs.size_budget_mb is not None and report.size_mb > inputs.size_budget_mb:
        report.largest_layers = _largest_layers(engine, outcome.image_id)
        headline = (
            f"image is {report.size_mb:.1f} MB, over the size budget of "
            f"{inputs.size_budget_mb:g} MB; not pushed"
        )
        plan.annotations.append(_failure_annotation(headline, plan.shown_dockerfile, "size budget"))
        return _result(report, False, headline, plan.annotations, outputs)
    if not plan.push:
        return _result(report, True, "built (not pushed)", plan.annotations, outputs)
    digest = push_tags(
        engine, reference, plan.tag_names, registry.credentials, registry.policy, registry.console
    ).digest
    platform = engine_platform(engine.image_attrs(outcome.image_id))
    report.digest, report.pushed = digest, True
    report.platforms = [PlatformReport(platform=platform, digest=digest, size_mb=report.size_mb)]
    outputs.update(
        {
            "digest": digest,
            "pushed": "true",
            "image": reference.with_digest(digest),
            "platform-digests": json.dumps({platform: digest}),
        }
    )
    return _result(
        report, True, f"pushed {reference.with_digest(digest)}", plan.annotations, outputs
    )


def _failure_annotation(headline: str, shown_dockerfile: str, what: str) -> Annotation:
    return Annotation(
        level="error",
        message=headline + " (details in the log/summary)",
        file=shown_dockerfile,
        title=f"build-push: {what}",
    )


def _provenance_mode(value: ProvenanceInput) -> ProvenanceMode:
    return "min" if value == "true" else value


@dataclass(frozen=True)
class _Registry:
    """Where a by-digest push went, and how to talk to it."""

    reference: ImageReference
    credentials: RegistryCredentials | None
    policy: RetryPolicy
    console: Console


def _check_platforms(
    inputs: BuildPushInputs,
    report: BuildPushReport,
    registry: _Registry,
    digest: str,
    outputs: dict[str, str],
) -> list[str]:
    """Read the pushed list back into the report; what fails the user rule or the budget."""
    pushed = with_registry_retries(
        lambda: read_pushed(registry.reference, digest, registry.credentials),
        what=f"read-back of {registry.reference.with_digest(digest)}",
        policy=registry.policy,
        console=registry.console,
    )
    report.platforms = [
        PlatformReport(
            platform=image.platform,
            digest=image.digest,
            size_mb=round(image.size_bytes / BYTES_PER_MB, 1),
            user=image.user,
        )
        for image in pushed.images
    ]
    report.size_mb = max(entry.size_mb or 0.0 for entry in report.platforms)
    report.attestations = pushed.attestations
    if pushed.unknown_platform_entries:
        count = pushed.unknown_platform_entries
        report.notes.append(
            f"the list has {count} unknown/unknown entr{'y' if count == 1 else 'ies'} "
            "(attestations): a runtime that picks a platform by hand may refuse it"
        )
    outputs.update(
        {
            "digest": digest,
            "platform-digests": json.dumps({e.platform: e.digest for e in report.platforms}),
            "size-mb": f"{report.size_mb:.1f}",
        }
    )
    problems: list[str] = []
    if inputs.policy and "non-root-user" not in inputs.policy_ignore:
        problems += [
            f"{entry.platform} runs as root (User {entry.user or 'unset'})"
            for entry in report.platforms
            if runs_as_root(entry.user)
        ]
    budget = inputs.size_budget_mb
    if budget is not None:
        problems += [
            f"{entry.platform} is {entry.size_mb:.1f} MB compressed, over the size budget of "
            f"{budget:g} MB"
            for entry in report.platforms
            if (entry.size_mb or 0) > budget
        ]
    if not problems:
        report.digest, report.pushed = digest, True
        outputs.update({"pushed": "true", "image": registry.reference.with_digest(digest)})
    return problems


def _tag_digest(registry: _Registry, tag_names: tuple[str, ...], digest: str) -> None:
    """Point every tag at the checked list: the same bytes, so the same digest."""
    manifest = get_manifest(registry.reference, digest, registry.credentials)
    for tag in tag_names:

        def put_tag(tag: str = tag) -> str:
            return put_manifest(registry.reference, tag, manifest, registry.credentials)

        with_registry_retries(
            put_tag,
            what=f"tag {registry.reference.with_tag(tag)}",
            policy=registry.policy,
            console=registry.console,
        )


BUILD_PUSH = Action(
    name="build-push",
    help="Check the Dockerfile policy, build with BuildKit, tag like docker/metadata-action, "
    "and push with retries (GHCR, ECR, any registry).",
    inputs=BuildPushInputs,
    run=run_build_push,
)
