"""Smoke tests generated from the golden OpenAPI document.

Every operation that can be called without inventing data is called once:

* GET and HEAD operations whose required parameters all have a value in the document
  (an `example`, the first of `examples`, or a schema `default`/`example`);
* any operation marked `x-fastapi-ci-smoke: true`, a write (POST, PUT, PATCH, DELETE) only
  when the caller also allows writes (`smoke-writes`), and with its example request body;
* never an operation marked `x-fastapi-ci-smoke: false`.

A call passes when it answers below 500 with a status the document lists for it, and its
JSON body is valid against that status's response schema.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:  # httpx is imported when a check runs, not when the CLI starts
    import httpx

SAFE_METHODS = ("get", "head")
WRITE_METHODS = ("post", "put", "patch", "delete")
SMOKE_MARK = "x-fastapi-ci-smoke"
_PATH_PARAMETER = re.compile(r"\{([^}/]+)\}")
_NO_VALUE = object()


@dataclass(frozen=True)
class Operation:
    """One callable operation: its document key and the concrete request to send."""

    method: str  # upper case
    template: str  # the document's path, e.g. /api/v1/items/{item_id}
    path: str  # with path parameters filled in
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    has_body: bool = False

    @property
    def key(self) -> str:
        """How reports name the endpoint: `GET /api/v1/items`."""
        return f"{self.method} {self.template}"


@dataclass(frozen=True)
class Skipped:
    """An operation not called, and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class SmokePlan:
    """What the document allows to call, and what it leaves out."""

    operations: tuple[Operation, ...]
    skipped: tuple[Skipped, ...]


def without_path(smoke_plan: SmokePlan, path: str, reason: str) -> SmokePlan:
    """`smoke_plan` with the operations on `path` moved to the skipped, for `reason`."""
    left = [op for op in smoke_plan.operations if op.path == path]
    return SmokePlan(
        tuple(op for op in smoke_plan.operations if op.path != path),
        smoke_plan.skipped + tuple(Skipped(op.key, reason) for op in left),
    )


@dataclass(frozen=True)
class SmokeResult:
    """One call's outcome."""

    key: str
    passed: bool
    status: int | None
    detail: str
    seconds: float


@dataclass
class SmokeReport:
    """Every call's outcome."""

    results: list[SmokeResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def failures(self) -> list[SmokeResult]:
        """The calls that failed."""
        return [result for result in self.results if not result.passed]


def _example_value(holder: Mapping[str, Any]) -> object:
    """A documented value: `example`, the first of `examples`, or the schema's."""
    if "example" in holder:
        return holder["example"]
    examples = holder.get("examples")
    if isinstance(examples, Mapping) and examples:
        first = next(iter(examples.values()))
        if isinstance(first, Mapping) and "value" in first:
            return first["value"]
    if isinstance(examples, list) and examples:
        return examples[0]
    schema = holder.get("schema")
    if isinstance(schema, Mapping) and holder is not schema:
        for key in ("example", "default"):
            if key in schema:
                return schema[key]
        value = _example_value(schema)
        if value is not _NO_VALUE:
            return value
    return _NO_VALUE


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _request_body(operation: Mapping[str, Any]) -> tuple[bool, object]:
    """(has a body, the example body) of an operation; a required body needs an example."""
    body = operation.get("requestBody")
    if not isinstance(body, Mapping):
        return False, None
    media = body.get("content", {}).get("application/json")
    value = _example_value(media) if isinstance(media, Mapping) else _NO_VALUE
    if value is _NO_VALUE:
        if body.get("required"):
            return True, _NO_VALUE
        return False, None
    return True, value


def plan(document: Mapping[str, Any], *, writes: bool) -> SmokePlan:
    """The operations to call, and the ones left out with the reason."""
    operations: list[Operation] = []
    skipped: list[Skipped] = []
    for template, path_item in sorted(document.get("paths", {}).items()):
        if not isinstance(path_item, Mapping):
            continue
        shared_parameters = path_item.get("parameters", [])
        for method, operation in path_item.items():
            if method not in SAFE_METHODS + WRITE_METHODS or not isinstance(operation, Mapping):
                continue
            key = f"{method.upper()} {template}"
            mark = operation.get(SMOKE_MARK)
            if mark is False:
                skipped.append(Skipped(key, f"{SMOKE_MARK}: false"))
                continue
            if method in WRITE_METHODS:
                if mark is not True:
                    skipped.append(Skipped(key, f"a write (mark it {SMOKE_MARK}: true to call)"))
                    continue
                if not writes:
                    skipped.append(Skipped(key, "a write, and smoke-writes is false"))
                    continue
            built = _build(method, template, [*shared_parameters, *operation.get("parameters", [])])
            if isinstance(built, Skipped):
                skipped.append(built)
                continue
            has_body, body = _request_body(operation)
            if body is _NO_VALUE:
                skipped.append(Skipped(key, "its request body has no example"))
                continue
            operations.append(
                Operation(
                    method=built.method,
                    template=template,
                    path=built.path,
                    query=built.query,
                    body=body,
                    has_body=has_body,
                )
            )
    return SmokePlan(tuple(operations), tuple(skipped))


def _build(method: str, template: str, parameters: list[Any]) -> Operation | Skipped:
    """The request with every required parameter filled from the document, or why not."""
    key = f"{method.upper()} {template}"
    path = template
    query: list[tuple[str, str]] = []
    for parameter in parameters:
        if not isinstance(parameter, Mapping) or "$ref" in parameter:
            return Skipped(key, "a parameter given by $ref (not supported)")
        location, name = parameter.get("in"), str(parameter.get("name"))
        required = bool(parameter.get("required")) or location == "path"
        value = _example_value(parameter)
        if value is _NO_VALUE:
            if required:
                return Skipped(key, f"required {location} parameter {name!r} has no example")
            continue
        if location == "path":
            path = path.replace("{" + name + "}", quote(_as_text(value), safe=""))
        elif location == "query" and required:
            query.append((name, _as_text(value)))
        elif required:
            return Skipped(key, f"required {location} parameter {name!r} (not supported)")
    if _PATH_PARAMETER.search(path):
        return Skipped(key, "a path parameter is not declared")
    return Operation(method=method.upper(), template=template, path=path, query=tuple(query))


def response_schema(
    document: Mapping[str, Any], operation: Operation, status: int
) -> tuple[bool, Mapping[str, Any] | None]:
    """(is the status documented, its JSON schema or None) for one answer."""
    responses = (
        document.get("paths", {}).get(operation.template, {}).get(operation.method.lower(), {})
    ).get("responses", {})
    documented = responses.get(str(status)) or responses.get(f"{status // 100}XX")
    if documented is None:
        documented = responses.get("default")
    if not isinstance(documented, Mapping):
        return False, None
    media = documented.get("content", {}).get("application/json")
    schema = media.get("schema") if isinstance(media, Mapping) else None
    return True, schema if isinstance(schema, Mapping) else None


def validate_body(document: Mapping[str, Any], schema: Mapping[str, Any], body: Any) -> str | None:
    """The first way `body` breaks `schema` (its `$ref`s resolved in the document), or None."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    # Local refs (#/components/schemas/X) resolve against the root: put the components there.
    rooted = {**schema, "components": document.get("components", {})}
    error = next(iter(Draft202012Validator(rooted).iter_errors(body)), None)
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(the body)"
    return f"{where}: {error.message[:300]}"


def judge(
    document: Mapping[str, Any], operation: Operation, response: httpx.Response
) -> tuple[bool, str]:
    """(passed, why) for one answer."""
    status = response.status_code
    if status >= 500:
        return False, f"HTTP {status}: {response.text[:200]}"
    documented, schema = response_schema(document, operation, status)
    if not documented:
        return False, f"HTTP {status}, a status the document does not list for it"
    if schema is None or operation.method == "HEAD" or not response.content:
        return True, f"HTTP {status}"
    try:
        body = response.json()
    except ValueError:
        return False, f"HTTP {status}, but the body is not JSON: {response.text[:200]}"
    problem = validate_body(document, schema, body)
    if problem:
        return False, f"HTTP {status}, body does not match the schema: {problem}"
    return True, f"HTTP {status}, body matches the schema"


def send(client: httpx.Client, operation: Operation, timeout: float) -> httpx.Response:
    """Send one operation's request."""
    return client.request(
        operation.method,
        operation.path,
        params=list(operation.query),
        json=operation.body if operation.has_body else None,
        timeout=timeout,
    )


def run_smoke(
    client: httpx.Client,
    document: Mapping[str, Any],
    smoke_plan: SmokePlan,
    timeout: float,
) -> SmokeReport:
    """Call each planned operation once and judge its answer."""
    import httpx

    report = SmokeReport(skipped=list(smoke_plan.skipped))
    for operation in smoke_plan.operations:
        started = time.monotonic()
        try:
            response = send(client, operation, timeout)
        except httpx.HTTPError as error:
            report.results.append(
                SmokeResult(
                    operation.key,
                    False,
                    None,
                    f"{type(error).__name__}: {error}",
                    time.monotonic() - started,
                )
            )
            continue
        passed, detail = judge(document, operation, response)
        report.results.append(
            SmokeResult(
                operation.key,
                passed,
                response.status_code,
                detail,
                response.elapsed.total_seconds(),
            )
        )
    return report
