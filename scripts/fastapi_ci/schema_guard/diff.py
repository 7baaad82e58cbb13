"""The semantic OpenAPI diff: which changes between two documents would break clients.

Operations are matched by method and path (path parameter names do not matter to a
client: `/items/{id}` and `/items/{item_id}` are the same endpoint). For each operation
the parameters and request bodies are compared in the *request* direction (the server must
keep accepting what clients send) and the responses in the *response* direction (clients
must keep understanding what the server sends). Rule ids and levels follow oasdiff's where a
rule matches (https://github.com/oasdiff/oasdiff, `oasdiff checks`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi_ci.schema_guard._schema import (
    Direction,
    Finding,
    PairDiff,
    SchemaComparator,
    narrowing_level,
    widening_level,
)
from fastapi_ci.schema_guard.report import Change, Level

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_OAUTH_FLOWS = ("implicit", "password", "clientCredentials", "authorizationCode")
_OAUTH_URLS = (
    ("authorizationUrl", "api-security-component-oauth-url-changed"),
    ("tokenUrl", "api-security-component-oauth-token-url-changed"),
    ("refreshUrl", "api-security-component-oauth-refresh-url-changed"),
)
_PATH_PARAMETER = re.compile(r"\{([^}/]*)\}")


def diff_documents(
    base: Mapping[str, Any],
    revision: Mapping[str, Any],
    *,
    today: date | None = None,
    fastapi: bool = False,
) -> list[Change]:
    """Every change from `base` to `revision`, classified for clients of the base.

    `today` decides whether a deprecated operation was removed before its `x-sunset` date
    (default: the current date). `fastapi` reads response schemas as FastAPI serializes
    them: every field of a response model is sent, required in the schema or not, so
    removing any response property breaks the clients that read it.
    """
    return _DocumentDiff(base, revision, today or date.today(), fastapi=fastapi).run()


def looks_exported_from_fastapi(document: Mapping[str, Any]) -> bool:
    """True for a document FastAPI generated: it has FastAPI's own validation-error schemas.

    FastAPI adds `HTTPValidationError` (a `detail` list of `ValidationError`) to the
    document of any app with a parameter or a body; hand-written specs rarely spell both.
    """
    schemas = _mapping(_mapping(document.get("components")).get("schemas"))
    return "HTTPValidationError" in schemas and "ValidationError" in schemas


@dataclass(frozen=True, slots=True)
class _Subject:
    """How schema findings under one root are named: rule-id prefixes and wording."""

    location: str  # "query parameter limit", "response 200 application/json"
    root_rule: str  # "request-parameter", "response-body"
    nested_rule: str  # "request-parameter", "response-property"
    root_noun: str  # "query parameter 'limit'", "response body"
    nested_noun: str  # "query parameter 'limit' property", "response property"


@dataclass(frozen=True, slots=True)
class _Operation:
    path: str
    method: str
    path_item: Mapping[str, Any]
    operation: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


_Resolve = Callable[[Any], Any]


class _DocumentDiff:
    """One comparison of two documents; `run` returns its changes."""

    def __init__(
        self, base: Mapping[str, Any], revision: Mapping[str, Any], today: date, *, fastapi: bool
    ) -> None:
        self._base = base
        self._revision = revision
        self._today = today
        self._schemas = SchemaComparator(base, revision, fastapi=fastapi)
        self._changes: list[Change] = []
        # Each changed pair of referenced schemas, by id of its PairDiff.
        self._shared: dict[int, _SharedPair] = {}

    def run(self) -> list[Change]:
        """Compare security, every operation (matched by method and path shape), webhooks."""
        self._compare_security(
            self._base.get("security"), self._revision.get("security"), None, "api-global-security"
        )
        self._compare_security_schemes()
        base_operations = _operations_by_shape(self._base, self._schemas.resolve_base)
        revision_operations = _operations_by_shape(self._revision, self._schemas.resolve_revision)
        revision_shapes = {shape for shape, _ in revision_operations}
        for key, base_operation in base_operations.items():
            revision_operation = revision_operations.get(key)
            if revision_operation is None:
                self._operation_removed(base_operation, whole_path=key[0] not in revision_shapes)
            else:
                self._compare_operation(base_operation, revision_operation)
        for key, revision_operation in revision_operations.items():
            if key not in base_operations:
                self._operation_added(revision_operation)
        self._compare_webhooks()
        self._report_shared_schemas()
        return self._changes

    def _add(
        self, rule: str, level: Level, location: str, message: str, operation: str | None
    ) -> None:
        self._changes.append(
            Change(
                id=rule,
                level=level,
                location=location,
                message=message,
                operation=operation,
                affected_operations=(operation,) if operation else (),
            )
        )

    # -- webhooks ------------------------------------------------------------------------

    def _compare_webhooks(self) -> None:
        """Webhooks are requests the API sends: each side of the contract is reversed.

        The API's webhook request body is read by the client (judged like a response), and
        the client's reply is read by the API (judged like a request).
        """
        base_hooks = _mapping(self._base.get("webhooks"))
        revision_hooks = _mapping(self._revision.get("webhooks"))
        for name, base_item in base_hooks.items():
            base_item = self._schemas.resolve_base(base_item)
            revision_item = self._schemas.resolve_revision(revision_hooks.get(name))
            base_ops = {op.method: op for op in _operations(f"webhook {name}", _mapping(base_item))}
            revision_ops = {
                op.method: op for op in _operations(f"webhook {name}", _mapping(revision_item))
            }
            for method, base_operation in base_ops.items():
                revision_operation = revision_ops.get(method)
                if revision_operation is None:
                    self._add(
                        "webhook-removed",
                        "error",
                        "webhook",
                        "webhook removed: clients subscribed to it stop receiving it",
                        base_operation.label,
                    )
                else:
                    self._compare_operation(base_operation, revision_operation, webhook=True)
            for method, revision_operation in revision_ops.items():
                if method not in base_ops:
                    self._add(
                        "webhook-added",
                        "info",
                        "webhook",
                        "webhook added",
                        revision_operation.label,
                    )
        for name, revision_item in revision_hooks.items():
            if name not in base_hooks:
                for operation in _operations(f"webhook {name}", _mapping(revision_item)):
                    self._add("webhook-added", "info", "webhook", "webhook added", operation.label)

    # -- security schemes ----------------------------------------------------------------

    def _compare_security_schemes(self) -> None:
        """components/securitySchemes: how a client authenticates (oasdiff's rule ids)."""
        base_schemes = _security_schemes(self._base, self._schemas.resolve_base)
        revision_schemes = _security_schemes(self._revision, self._schemas.resolve_revision)
        for name, base_scheme in base_schemes.items():
            where = f"security scheme {name}"
            revision_scheme = revision_schemes.get(name)
            if revision_scheme is None:
                # Requirements naming it are compared where they are; the definition alone
                # going away changes nothing a client sends.
                self._add("api-security-component-removed", "info", where, f"{where} removed", None)
                continue
            for field, rule, level in _SECURITY_SCHEME_FIELDS:
                old, new = _dig(base_scheme, field), _dig(revision_scheme, field)
                if old != new:
                    self._add(
                        rule,
                        level,
                        where,
                        f"{where}: {'.'.join(field)} changed from {old!r} to {new!r}",
                        None,
                    )
            for flow, base_flow in _mapping(base_scheme.get("flows")).items():
                base_scopes = set(_mapping(_mapping(base_flow).get("scopes")))
                flow_scopes = _mapping(_mapping(revision_scheme.get("flows")).get(flow))
                revision_scopes = set(_mapping(flow_scopes.get("scopes")))
                for scope in sorted(revision_scopes - base_scopes):
                    self._add(
                        "api-security-component-oauth-scope-added",
                        "info",
                        where,
                        f"{where}: scope {scope!r} added to the {flow} flow",
                        None,
                    )
                for scope in sorted(base_scopes - revision_scopes):
                    self._add(
                        "api-security-component-oauth-scope-removed",
                        "info",
                        where,
                        f"{where}: scope {scope!r} removed from the {flow} flow",
                        None,
                    )
        for name in revision_schemes:
            if name not in base_schemes:
                where = f"security scheme {name}"
                self._add("api-security-component-added", "info", where, f"{where} added", None)

    # -- endpoints -----------------------------------------------------------------------

    def _operation_added(self, operation: _Operation) -> None:
        self._add("endpoint-added", "info", "endpoint", "endpoint added", operation.label)

    def _operation_removed(self, operation: _Operation, *, whole_path: bool) -> None:
        prefix = "api-path" if whole_path else "api"
        what = "path" if whole_path else "operation"
        if operation.operation.get("deprecated") is not True:
            self._add(
                f"{prefix}-removed-without-deprecation",
                "error",
                "endpoint",
                f"{what} removed without being deprecated first",
                operation.label,
            )
            return
        sunset = _sunset_date(operation.operation)
        if sunset is not None and sunset > self._today:
            self._add(
                f"{prefix}-removed-before-sunset",
                "error",
                "endpoint",
                f"{what} removed before its sunset date {sunset.isoformat()}",
                operation.label,
            )
            return
        # Deprecated first, so clients were warned (oasdiff: info).
        self._add(
            f"{prefix}-removed-with-deprecation",
            "info",
            "endpoint",
            f"deprecated {what} removed",
            operation.label,
        )

    def _compare_operation(
        self, base: _Operation, revision: _Operation, *, webhook: bool = False
    ) -> None:
        label = revision.label
        was_deprecated = base.operation.get("deprecated") is True
        is_deprecated = revision.operation.get("deprecated") is True
        if is_deprecated and not was_deprecated:
            self._add("endpoint-deprecated", "info", "endpoint", "endpoint deprecated", label)
        elif was_deprecated and not is_deprecated:
            self._add(
                "endpoint-reactivated", "info", "endpoint", "endpoint no longer deprecated", label
            )
        if "security" in base.operation or "security" in revision.operation:
            self._compare_security(
                base.operation.get("security", self._base.get("security")),
                revision.operation.get("security", self._revision.get("security")),
                label,
                "api-security",
            )
        self._compare_parameters(base, revision)
        self._compare_request_bodies(
            self._schemas.resolve_base(base.operation.get("requestBody")),
            self._schemas.resolve_revision(revision.operation.get("requestBody")),
            label,
            judged_as="response" if webhook else "request",
        )
        self._compare_responses(
            _mapping(base.operation.get("responses")),
            _mapping(revision.operation.get("responses")),
            label,
            judged_as="request" if webhook else "response",
        )

    # -- security ------------------------------------------------------------------------

    def _compare_security(
        self, base: Any, revision: Any, operation: str | None, rule_prefix: str
    ) -> None:
        """Compare security requirements: a list of alternatives, each a set of schemes."""
        base_alternatives = _security_alternatives(base)
        revision_alternatives = _security_alternatives(revision)
        if base_alternatives == revision_alternatives:
            return
        # No requirement, or an empty alternative, means a client may call anonymously.
        base_open = not base_alternatives or frozenset() in base_alternatives
        revision_open = not revision_alternatives or frozenset() in revision_alternatives
        per_operation = operation is not None
        if per_operation and base_open != revision_open:
            # oasdiff's rules: the break is that anonymous callers are now turned away.
            self._add(
                "api-security-anonymous-access-removed"
                if base_open
                else "api-security-anonymous-access-added",
                "error" if base_open else "info",
                "security",
                "unauthenticated requests are now rejected"
                if base_open
                else "unauthenticated requests are now accepted",
                operation,
            )
        for schemes in revision_alternatives:
            if schemes in base_alternatives or not schemes:
                continue
            # A new alternative only breaks clients that needed no authentication before
            # (reported above for an operation, here for the document-wide default).
            level: Level = "error" if base_open and not per_operation else "info"
            self._add(
                f"{rule_prefix}-added",
                level,
                "security",
                f"security requirement {_scheme_list(schemes)} added"
                + (" (it could be called without authentication before)" if base_open else ""),
                operation,
            )
        for schemes in base_alternatives:
            if schemes in revision_alternatives or not schemes:
                continue
            # Clients that authenticate this way are now rejected, unless anonymous calls are.
            level = "info" if revision_open else "error"
            self._add(
                f"{rule_prefix}-removed",
                level,
                "security",
                f"security requirement {_scheme_list(schemes)} removed",
                operation,
            )
        for schemes, scopes in revision_alternatives.items():
            base_scopes = base_alternatives.get(schemes)
            if base_scopes is None:
                continue
            for scheme in sorted(schemes):
                added = sorted(scopes[scheme] - base_scopes[scheme])
                removed = sorted(base_scopes[scheme] - scopes[scheme])
                if added:
                    self._add(
                        f"{rule_prefix}-scope-added",
                        "error",
                        "security",
                        f"security scheme {scheme!r} now also requires the scopes {added}",
                        operation,
                    )
                if removed:
                    self._add(
                        f"{rule_prefix}-scope-removed",
                        "info",
                        "security",
                        f"security scheme {scheme!r} no longer requires the scopes {removed}",
                        operation,
                    )

    # -- parameters ----------------------------------------------------------------------

    def _compare_parameters(self, base: _Operation, revision: _Operation) -> None:
        label = revision.label
        base_parameters = _parameters(base, self._schemas.resolve_base)
        revision_parameters = _parameters(revision, self._schemas.resolve_revision)
        for key, base_parameter in base_parameters.items():
            name = str(base_parameter.get("name"))
            where = f"{base_parameter.get('in')} parameter {name}"
            revision_parameter = revision_parameters.get(key)
            if revision_parameter is None:
                # The server ignores it now (or rejects it): worth a look, rarely a break.
                self._add("request-parameter-removed", "warning", where, f"{where} removed", label)
                continue
            was_required = base_parameter.get("required") is True
            is_required = revision_parameter.get("required") is True
            if is_required and not was_required:
                self._add(
                    "request-parameter-became-required",
                    "error",
                    where,
                    f"{where} became required",
                    label,
                )
            elif was_required and not is_required:
                self._add(
                    "request-parameter-became-optional",
                    "info",
                    where,
                    f"{where} became optional",
                    label,
                )
            self._compare_parameter_schemas(
                base_parameter, revision_parameter, "request", where, where, label
            )
        for key, revision_parameter in revision_parameters.items():
            if key in base_parameters:
                continue
            where = f"{revision_parameter.get('in')} parameter {revision_parameter.get('name')}"
            if revision_parameter.get("required") is True:
                self._add(
                    "new-required-request-parameter", "error", where, f"new required {where}", label
                )
            else:
                self._add(
                    "new-optional-request-parameter", "info", where, f"new optional {where}", label
                )

    # -- request bodies ------------------------------------------------------------------

    def _compare_request_bodies(
        self, base: Any, revision: Any, label: str, *, judged_as: Direction
    ) -> None:
        if not isinstance(base, dict) and not isinstance(revision, dict):
            return
        where = "request body"
        if not isinstance(base, dict):
            if revision.get("required") is True:
                self._add(
                    "added-required-request-body",
                    "error",
                    where,
                    "required request body added",
                    label,
                )
            else:
                self._add(
                    "added-optional-request-body",
                    "info",
                    where,
                    "optional request body added",
                    label,
                )
            return
        if not isinstance(revision, dict):
            self._add("request-body-removed", "error", where, "request body removed", label)
            return
        was_required, is_required = base.get("required") is True, revision.get("required") is True
        if is_required and not was_required:
            self._add(
                "request-body-became-required",
                "error",
                where,
                "request body became required",
                label,
            )
        elif was_required and not is_required:
            self._add(
                "request-body-became-optional", "info", where, "request body became optional", label
            )
        self._compare_content(base, revision, "request", where, label, judged_as=judged_as)

    # -- responses -----------------------------------------------------------------------

    def _compare_responses(
        self,
        base: Mapping[str, Any],
        revision: Mapping[str, Any],
        label: str,
        *,
        judged_as: Direction,
    ) -> None:
        for status, base_response in base.items():
            where = f"response {status}"
            if status not in revision:
                if _is_success(status):
                    self._add(
                        "response-success-status-removed",
                        "error",
                        where,
                        f"success response {status} removed",
                        label,
                    )
                else:
                    self._add(
                        "response-non-success-status-removed",
                        "info",
                        where,
                        f"response {status} removed",
                        label,
                    )
                continue
            base_response = self._schemas.resolve_base(base_response)
            revision_response = self._schemas.resolve_revision(revision[status])
            if not isinstance(base_response, dict) or not isinstance(revision_response, dict):
                continue
            self._compare_content(
                base_response, revision_response, "response", where, label, judged_as=judged_as
            )
            self._compare_response_headers(base_response, revision_response, where, label)
        for status in revision:
            if status not in base:
                rule = (
                    "response-success-status-added"
                    if _is_success(status)
                    else "response-non-success-status-added"
                )
                self._add(rule, "info", f"response {status}", f"response {status} added", label)

    def _compare_response_headers(
        self, base: Mapping[str, Any], revision: Mapping[str, Any], where: str, label: str
    ) -> None:
        base_headers = _headers(base, self._schemas.resolve_base)
        revision_headers = _headers(revision, self._schemas.resolve_revision)
        for key, (name, base_header) in base_headers.items():
            location = f"{where} header {name}"
            was_required = base_header.get("required") is True
            if key not in revision_headers:
                if was_required:
                    self._add(
                        "required-response-header-removed",
                        "error",
                        location,
                        f"required response header {name} removed",
                        label,
                    )
                else:
                    self._add(
                        "optional-response-header-removed",
                        "warning",
                        location,
                        f"optional response header {name} removed",
                        label,
                    )
                continue
            revision_header = revision_headers[key][1]
            if was_required and revision_header.get("required") is not True:
                self._add(
                    "response-header-became-optional",
                    "error",
                    location,
                    f"response header {name} became optional",
                    label,
                )
            self._compare_parameter_schemas(
                base_header, revision_header, "response", location, f"response header {name}", label
            )

    def _compare_parameter_schemas(
        self,
        base: Mapping[str, Any],
        revision: Mapping[str, Any],
        direction: Direction,
        location: str,
        noun: str,
        label: str,
    ) -> None:
        """The schemas of a parameter or a header (request-parameter-* / response-header-*)."""
        rule = "request-parameter" if direction == "request" else "response-header"
        subject = _Subject(
            location=location,
            root_rule=rule,
            nested_rule=rule,
            root_noun=noun,
            nested_noun=f"{noun} property",
        )
        self._compare_schemas(
            _parameter_schema(base), _parameter_schema(revision), direction, subject, label
        )

    # -- content and schemas -------------------------------------------------------------

    def _compare_content(
        self,
        base: Mapping[str, Any],
        revision: Mapping[str, Any],
        kind: Direction,
        where: str,
        label: str,
        *,
        judged_as: Direction,
    ) -> None:
        """Compare the media types of a request body or response, and their schemas.

        `kind` names the rules (request-body-*, response-*); `judged_as` is who reads the
        content: the server (request) or the client (response); a webhook swaps them.
        """
        base_content = _content(base)
        revision_content = _content(revision)
        for media_type, (original, base_media) in base_content.items():
            if media_type not in revision_content:
                rule = (
                    "request-body-media-type-removed"
                    if kind == "request"
                    else "response-media-type-removed"
                )
                self._add(
                    rule, "error", f"{where} {original}", f"media type {original} removed", label
                )
                continue
            revision_original, revision_media = revision_content[media_type]
            base_schema = _mapping(base_media).get("schema")
            revision_schema = _mapping(revision_media).get("schema")
            if (base_schema is None) != (revision_schema is None):
                # No schema accepts (or may send) anything: gaining one narrows a request,
                # losing one leaves a response reader with no contract.
                added = base_schema is None
                self._add(
                    f"{'request-body' if kind == 'request' else 'response-body'}"
                    f"-media-type-schema-{'added' if added else 'removed'}",
                    narrowing_level(judged_as) if added else widening_level(judged_as),
                    f"{where} {revision_original}",
                    f"media type {revision_original} {'gained' if added else 'lost'} its schema",
                    label,
                )
                continue
            subject = _Subject(
                location=f"{where} {revision_original}",
                root_rule=f"{kind}-body",
                nested_rule=f"{kind}-property",
                root_noun=f"{kind} body",
                nested_noun=f"{kind} property",
            )
            self._compare_schemas(base_schema, revision_schema, judged_as, subject, label)
        for media_type, (original, _) in revision_content.items():
            if media_type not in base_content:
                rule = (
                    "request-body-media-type-added"
                    if kind == "request"
                    else "response-media-type-added"
                )
                self._add(
                    rule, "info", f"{where} {original}", f"media type {original} added", label
                )

    def _compare_schemas(
        self, base: Any, revision: Any, direction: Direction, subject: _Subject, label: str
    ) -> None:
        if base is None or revision is None:
            return
        schema_diff = self._schemas.compare(base, revision, direction)
        for finding in schema_diff.findings:
            self._changes.append(_change_from_finding(finding, "", subject, label))
        for path, pair_diff in schema_diff.reached:
            shared = self._shared.get(id(pair_diff))
            if shared is None:
                occurrence = _Occurrence(path, subject, label)
                self._shared[id(pair_diff)] = _SharedPair(pair_diff, occurrence, {label})
                continue
            shared.operations.add(label)
            if (len(path), label, subject.location, path) < shared.best.sort_key():
                shared.best = _Occurrence(path, subject, label)

    def _report_shared_schemas(self) -> None:
        """Report each change behind a ref once, where it is reached by the shortest path.

        A change to a schema shared by many operations (or reachable from everywhere, as in
        Stripe's expandable objects) is one change for a reviewer: it is reported at its
        shortest location, and its message names the other operations it affects.
        """
        for shared in self._shared.values():
            best = shared.best
            others = sorted(shared.operations - {best.label})
            affected = tuple(sorted(shared.operations))
            for finding in shared.pair_diff.findings:
                change = _change_from_finding(finding, best.path, best.subject, best.label)
                update: dict[str, Any] = {"affected_operations": affected}
                if others:
                    update["message"] = f"{change.message} {_also_in(others)}"
                self._changes.append(change.model_copy(update=update))


@dataclass(frozen=True, slots=True)
class _Occurrence:
    """One place where a pair of referenced schemas is reached."""

    path: str
    subject: _Subject
    label: str

    def sort_key(self) -> tuple[int, str, str, str]:
        """Shortest path first, then a stable order (operation, location)."""
        return (len(self.path), self.label, self.subject.location, self.path)


@dataclass(slots=True)
class _SharedPair:
    """A changed pair of referenced schemas: where to report it, and every operation reaching it."""

    pair_diff: PairDiff
    best: _Occurrence
    operations: set[str]


def _also_in(operations: list[str], shown: int = 3) -> str:
    listed = ", ".join(operations[:shown])
    more = len(operations) - shown
    return f"(also in {listed}{f' and {more} more operations' if more > 0 else ''})"


def _change_from_finding(finding: Finding, prefix: str, subject: _Subject, label: str) -> Change:
    path = (prefix + finding.path).removeprefix(".")
    if finding.relative:
        rule = f"{subject.nested_rule if path else subject.root_rule}-{finding.rule}"
    else:
        rule = finding.rule
    location = f"{subject.location}: {path}" if path else subject.location
    noun = f"{subject.nested_noun} {path!r}" if path else subject.root_noun
    return Change(
        id=rule,
        level=finding.level,
        location=location,
        message=f"{noun} {finding.message}",
        operation=label,
        affected_operations=(label,),
    )


def _operations_by_shape(
    document: Mapping[str, Any], resolve: _Resolve
) -> dict[tuple[str, str], _Operation]:
    """Operations keyed by path shape (`/items/{}`) and method.

    Parameter names are not the contract: `GET /items/{id}` and `DELETE /items/{item_id}`,
    even as two path items of one document, are two operations on the same path.
    """
    operations: dict[tuple[str, str], _Operation] = {}
    for path, item in _mapping(document.get("paths")).items():
        item = resolve(item)
        if isinstance(item, dict):
            shape = _PATH_PARAMETER.sub("{}", path)
            for operation in _operations(path, item):
                operations.setdefault((shape, operation.method), operation)
    return operations


# (field path in a security scheme, rule id, level) for oasdiff's api-security-component-*.
_SECURITY_SCHEME_FIELDS: tuple[tuple[tuple[str, ...], str, Level], ...] = (
    (("type",), "api-security-component-type-changed", "error"),
    (("in",), "api-security-component-api-key-in-changed", "error"),
    (("name",), "api-security-component-api-key-name-changed", "error"),
    (("scheme",), "api-security-component-http-scheme-changed", "error"),
    (("bearerFormat",), "api-security-component-bearer-format-changed", "info"),
    (("openIdConnectUrl",), "api-security-component-openid-connect-url-changed", "warning"),
    *(
        (
            (("flows", flow, url_field), rule, "warning")
            for flow in _OAUTH_FLOWS
            for url_field, rule in _OAUTH_URLS
        )
    ),
)


def _operations(path: str, path_item: Mapping[str, Any]) -> Iterator[_Operation]:
    for method in HTTP_METHODS:
        operation = path_item.get(method)
        if isinstance(operation, dict):
            yield _Operation(path, method, path_item, operation)


def _parameters(operation: _Operation, resolve: _Resolve) -> dict[tuple[str, str], dict[str, Any]]:
    """The operation's parameters (path-level ones included), keyed by location and name.

    Header names are case-insensitive; path parameters are keyed by position in the path.
    """
    path_names = _PATH_PARAMETER.findall(operation.path)
    parameters: dict[tuple[str, str], dict[str, Any]] = {}
    declared = [
        *_list(operation.path_item.get("parameters")),
        *_list(operation.operation.get("parameters")),
    ]
    for parameter in declared:  # operation-level ones come last and override
        parameter = resolve(parameter)
        if not isinstance(parameter, dict):
            continue
        location, name = str(parameter.get("in")), str(parameter.get("name"))
        if location == "header":
            name = name.lower()
        elif location == "path" and name in path_names:
            name = f"#{path_names.index(name)}"
        parameters[(location, name)] = parameter
    return parameters


def _parameter_schema(parameter: Mapping[str, Any]) -> Any:
    """A parameter's (or header's) schema, from `schema` or from its single `content` entry."""
    if "schema" in parameter:
        return parameter["schema"]
    for media in _mapping(parameter.get("content")).values():
        return _mapping(media).get("schema")
    return None


def _headers(
    response: Mapping[str, Any], resolve: _Resolve
) -> dict[str, tuple[str, dict[str, Any]]]:
    headers: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, header in _mapping(response.get("headers")).items():
        header = resolve(header)
        if isinstance(header, dict):
            headers[name.lower()] = (name, header)
    return headers


def _content(body: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """Media types keyed case-insensitively, with their original spelling."""
    return {
        media_type.lower(): (media_type, media)
        for media_type, media in _mapping(body.get("content")).items()
    }


def _security_schemes(document: Mapping[str, Any], resolve: _Resolve) -> dict[str, dict[str, Any]]:
    schemes = _mapping(_mapping(document.get("components")).get("securitySchemes"))
    return {name: dict(_mapping(resolve(scheme))) for name, scheme in schemes.items()}


def _dig(node: Mapping[str, Any], field: tuple[str, ...]) -> Any:
    value: Any = node
    for key in field:
        value = _mapping(value).get(key)
    return value


def _security_alternatives(requirements: Any) -> dict[frozenset[str], dict[str, frozenset[str]]]:
    alternatives: dict[frozenset[str], dict[str, frozenset[str]]] = {}
    for requirement in _list(requirements):
        if isinstance(requirement, dict):
            scopes = {
                scheme: frozenset(s for s in _list(values) if isinstance(s, str))
                for scheme, values in requirement.items()
            }
            alternatives[frozenset(scopes)] = scopes
    return alternatives


def _scheme_list(schemes: frozenset[str]) -> str:
    return " + ".join(sorted(schemes))


def _is_success(status: str) -> bool:
    return str(status).startswith("2")


def _sunset_date(operation: Mapping[str, Any]) -> date | None:
    value = operation.get("x-sunset")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
