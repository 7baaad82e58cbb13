"""Build secrets: BuildKit secret mounts (`RUN --mount=type=secret,id=...`), never a layer.

The `secrets` input takes, one per line, what `docker buildx build --secret` takes and what
docker/build-push-action's `secrets` and `secret-files` take:

    id=pip_token,env=PIP_TOKEN      the value of an environment variable of the job
    id=netrc,src=/home/runner/.netrc a file
    PIP_TOKEN=s3cr3t                 an inline value (build-push-action's `secrets`)

Every value is masked (`::add-mask::`) before the build runs, so a RUN step that prints it
shows `***`; every value is handed to the builder as a file in the run's private (0700)
scratch directory, the one form that both `docker buildx build` and the engine's own
BuildKit (Debian's 20.10 client) take; the files go with the directory.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from fastapi_ci.errors import InputError

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True)
class BuildSecret:
    """One secret: its id in the Dockerfile, and where its value comes from."""

    id: str
    env: str | None = None
    src: Path | None = None
    value: SecretStr | None = None

    def read(self, env: Mapping[str, str]) -> str:
        """The value (InputError naming `secrets` when its variable or file is missing)."""
        if self.value is not None:
            return self.value.get_secret_value()
        if self.env is not None:
            if self.env not in env:
                raise InputError(
                    "secrets",
                    f"id={self.id}: ${self.env} is not set",
                    why="a build without its secret fails late, or quietly builds something else",
                    fix="pass the variable to the step in env: (from secrets.*)",
                    docs="build-push#several-platforms-a-stage-build-secrets",
                )
            return env[self.env]
        assert self.src is not None
        try:
            return self.src.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(
                "secrets",
                f"id={self.id}: cannot read {self.src}: {error}",
                fix="check the path, and that an earlier step wrote the file",
                docs="build-push#several-platforms-a-stage-build-secrets",
            ) from None


def _spec(line: str) -> BuildSecret:
    fields = next(csv.reader([line], skipinitialspace=True))
    pairs = [item.partition("=") for item in fields]
    keys = {key.strip().lower(): value for key, _, value in pairs}
    if "id" in keys:
        unknown = sorted(set(keys) - {"id", "env", "src", "source", "type"})
        if unknown:
            raise InputError(
                "secrets",
                f"unknown key {unknown[0]!r} (id=..., env=... or src=...)",
                docs="build-push#several-platforms-a-stage-build-secrets",
            )
        secret_id = keys["id"]
        src = keys.get("src") or keys.get("source")
        if (keys.get("env") is None) == (src is None):
            raise InputError(
                "secrets",
                f"id={secret_id}: give exactly one of env= or src=",
                docs="build-push#several-platforms-a-stage-build-secrets",
            )
        kind = keys.get("type")
        if kind not in (None, "env" if keys.get("env") else "file"):
            raise InputError(
                "secrets",
                f"id={secret_id}: type={kind} does not fit",
                docs="build-push#several-platforms-a-stage-build-secrets",
            )
        secret = BuildSecret(secret_id, env=keys.get("env"), src=Path(src) if src else None)
    else:
        # build-push-action's `secrets`: KEY=VALUE (the value may hold `=` and commas).
        secret_id, equals, value = line.partition("=")
        if not equals:
            raise InputError(
                "secrets",
                "each line is id=ID,env=VAR, id=ID,src=FILE or ID=VALUE",
                docs="build-push#several-platforms-a-stage-build-secrets",
            )
        secret = BuildSecret(secret_id.strip(), value=SecretStr(value))
    if not _ID.match(secret.id):
        raise InputError(
            "secrets",
            "an id is 1-128 letters, digits, '.', '_' or '-'",
            docs="build-push#several-platforms-a-stage-build-secrets",
        )
    return secret


def parse_secrets(text: str | None) -> list[BuildSecret]:
    """The `secrets` input, one secret per line; ids must be unique."""
    secrets = [_spec(line.strip()) for line in (text or "").splitlines() if line.strip()]
    ids = [secret.id for secret in secrets]
    repeated = sorted({each for each in ids if ids.count(each) > 1})
    if repeated:
        raise InputError(
            "secrets",
            f"id {repeated[0]!r} is given more than once",
            why="BuildKit mounts one value per id, so one of them would be dropped",
            docs="build-push#several-platforms-a-stage-build-secrets",
        )
    return secrets


def materialize(secrets: list[BuildSecret], env: Mapping[str, str], directory: Path) -> list[str]:
    """Write each value to a 0600 file in `directory`; return the `--secret` flag values."""
    flags = []
    for index, secret in enumerate(secrets):
        path = directory / f"secret-{index}"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secret.read(env))
        flags.append(f"id={secret.id},src={path}")
    return flags


def secret_values(secrets: list[BuildSecret], env: Mapping[str, str]) -> list[str]:
    """Every value, to mask before anything is printed (each line of a multi-line value too)."""
    values: list[str] = []
    for secret in secrets:
        value = secret.read(env)
        values.append(value)
        values += [line for line in value.splitlines() if line.strip() and line != value]
    return values
