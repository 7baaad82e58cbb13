"""Comparison of two JSON schemas in one direction (request or response), lazily over refs.

A schema pair is walked inline until a `$ref` on either side; that pair of resolved schemas
is a *boundary*. The findings and further boundaries of each boundary pair are computed
once (memoised on the identity of both resolved schemas and the direction) and reused by
every operation that reaches them. Walking the boundaries breadth-first, each pair once,
terminates on recursive schemas and reports a change at its shortest location. Pairs of
refs to a component that is unchanged (deeply, see `changed_schemas`) are not walked at all.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from fastapi_ci.schema_guard._refs import (
    RefResolver,
    changed_schemas,
    is_ref,
    refs_in,
    schema_name,
)
from fastapi_ci.schema_guard.report import Level

Direction = Literal["request", "response"]

# Keywords that document a schema without changing which values it accepts.
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "example",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "externalDocs",
        "xml",
        "$comment",
        "nullable",
    }
)
# (keyword, rule-id word). Upper bounds: lower is stricter. Lower bounds: higher is stricter.
_UPPER_BOUNDS = (
    ("maxLength", "max-length"),
    ("maximum", "max"),
    ("exclusiveMaximum", "exclusive-max"),
    ("maxItems", "max-items"),
    ("maxProperties", "max-properties"),
)
_LOWER_BOUNDS = (
    ("minLength", "min-length"),
    ("minimum", "min"),
    ("exclusiveMinimum", "exclusive-min"),
    ("minItems", "min-items"),
    ("minProperties", "min-properties"),
)
_UNIONS = ("anyOf", "oneOf")
# Keywords that only restrict which values are valid when they appear (or change).
_ONLY_NARROWING = (
    ("uniqueItems", "unique-items"),
    ("additionalProperties", "additional-properties"),
)


class SchemaInputError(Exception):
    """A schema that is not a schema (a string, a number...): the document is invalid."""

    def __init__(self, side: Literal["base", "revision"], path: str, node: Any) -> None:
        where = f"at '{path.removeprefix('.')}'" if path else "at the root of a body or parameter"
        super().__init__(
            f"a schema {where} is {type(node).__name__} {_json_text(node)[:60]}, "
            "not a schema object"
        )
        self.side = side


@dataclass(frozen=True, slots=True)
class Finding:
    """One change inside a schema, relative to the compared root.

    `path` is `""` for the root itself, else a suffix such as `.owner.name`, `.tags[]`,
    `.metadata{}` (additionalProperties) or `.value.anyOf[1]`. When `relative` is true,
    `rule` is completed by the caller with the subject (`type-changed` becomes
    `response-property-type-changed`); otherwise it is a complete rule id.
    """

    path: str
    rule: str
    level: Level
    message: str
    relative: bool = True


@dataclass(slots=True)
class PairDiff:
    """What comparing one pair of schemas found, up to the next refs (its boundaries)."""

    findings: list[Finding] = field(default_factory=list)
    boundaries: list[tuple[str, Any, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    """Findings between two schemas: those inline in them, and those behind refs.

    `reached` lists each pair of referenced schemas that has findings, with the (shortest)
    path at which it is reached; the same `PairDiff` object is shared by every schema that
    reaches that pair, so that a caller can report a change to a shared schema once.
    """

    findings: list[Finding]
    reached: list[tuple[str, PairDiff]]


def narrowing_level(direction: Direction) -> Level:
    """A change that accepts fewer values: breaks requests, harmless in responses."""
    return "error" if direction == "request" else "info"


def widening_level(direction: Direction) -> Level:
    """A change that allows more values: harmless in requests, breaks response readers."""
    return "info" if direction == "request" else "error"


class SchemaComparator:
    """Compares schemas of a base document with schemas of a revision document."""

    def __init__(
        self, base: Mapping[str, Any], revision: Mapping[str, Any], *, fastapi: bool = False
    ) -> None:
        self._fastapi = fastapi
        self._base = RefResolver(base)
        self._revision = RefResolver(revision)
        self._changed = changed_schemas(base, revision)
        self._expansions: dict[tuple[int, int, Direction], PairDiff] = {}
        self._closures: dict[tuple[int, int, Direction], list[tuple[str, PairDiff]]] = {}
        # Derived schemas (null-stripped views, merged allOf) by id of their source; the
        # source is stored too so that its id cannot be reused while the cache lives.
        self._views: dict[int, tuple[Any, Any, bool]] = {}
        self._flattened: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._flattening: set[int] = set()
        self._refers_to_changes_cache: dict[int, tuple[Any, bool]] = {}

    def compare(self, base: Any, revision: Any, direction: Direction) -> SchemaDiff:
        """Compare two (unresolved) schemas; finding paths are relative to them."""
        root = PairDiff()
        self._compare_node(base, revision, "", direction, root)
        reached: list[tuple[str, PairDiff]] = []
        for path, base_schema, revision_schema in root.boundaries:
            closure = self._closure(base_schema, revision_schema, direction)
            reached.extend((path + sub_path, diff) for sub_path, diff in closure)
        return SchemaDiff(root.findings, reached)

    def resolve_base(self, node: Any) -> Any:
        """Resolve a ref of the base document."""
        return self._base.resolve(node)

    def resolve_revision(self, node: Any) -> Any:
        """Resolve a ref of the revision document."""
        return self._revision.resolve(node)

    # -- walking boundaries ------------------------------------------------------------

    def _closure(
        self, base: Any, revision: Any, direction: Direction
    ) -> list[tuple[str, PairDiff]]:
        """Pairs with findings reachable from a boundary pair: each once, at its shortest path."""
        key = (id(base), id(revision), direction)
        cached = self._closures.get(key)
        if cached is not None:
            return cached
        reached: list[tuple[str, PairDiff]] = []
        visited = {(id(base), id(revision))}
        pending: deque[tuple[str, Any, Any]] = deque([("", base, revision)])
        while pending:
            path, base_schema, revision_schema = pending.popleft()
            pair_diff = self._expand(base_schema, revision_schema, direction)
            if pair_diff.findings:
                reached.append((path, pair_diff))
            for sub_path, base_next, revision_next in pair_diff.boundaries:
                pair = (id(base_next), id(revision_next))
                if pair not in visited:
                    visited.add(pair)
                    pending.append((path + sub_path, base_next, revision_next))
        self._closures[key] = reached
        return reached

    def _expand(self, base: Any, revision: Any, direction: Direction) -> PairDiff:
        key = (id(base), id(revision), direction)
        expansion = self._expansions.get(key)
        if expansion is None:
            expansion = PairDiff()
            self._compare_node(base, revision, "", direction, expansion)
            self._expansions[key] = expansion
        return expansion

    # -- comparing one pair inline -----------------------------------------------------

    def _compare_node(
        self, base: Any, revision: Any, path: str, direction: Direction, out: PairDiff
    ) -> None:
        if not isinstance(base, dict | bool):
            raise SchemaInputError("base", path, base)
        if not isinstance(revision, dict | bool):
            raise SchemaInputError("revision", path, revision)
        if not isinstance(base, dict) or not isinstance(revision, dict):
            # OpenAPI 3.1 boolean schemas (`true`/`false`) or malformed ones.
            if base != revision and (isinstance(base, bool) or isinstance(revision, bool)):
                out.findings.append(
                    Finding(
                        path,
                        "type-changed",
                        "error",
                        f"schema changed from {_json_text(base)} to {_json_text(revision)}",
                    )
                )
            return
        if base == revision and not self._refers_to_changes(base):
            return  # equal text, and every ref inside leads to an unchanged component
        base_core, base_nullable = self._view(base)
        revision_core, revision_nullable = self._view(revision)
        if base_nullable != revision_nullable:
            if revision_nullable:
                out.findings.append(
                    Finding(path, "became-nullable", widening_level(direction), "became nullable")
                )
            else:
                out.findings.append(
                    Finding(
                        path,
                        "became-not-nullable",
                        narrowing_level(direction),
                        "became not nullable",
                    )
                )
        if is_ref(base_core) or is_ref(revision_core):
            base_keyword, base_variants = _union(base_core)
            revision_keyword, revision_variants = _union(revision_core)
            keyword = revision_keyword or base_keyword
            if keyword is None:
                self._cross_refs(base_core, revision_core, path, out)
                if is_ref(base_core) and is_ref(revision_core):
                    # OpenAPI 3.1 keywords beside a $ref apply too (FastAPI writes an enum
                    # parameter's default there: `{"$ref": ..., "default": "asc"}`).
                    base_siblings = _without_ref(base_core)
                    revision_siblings = _without_ref(revision_core)
                    if base_siblings != revision_siblings:
                        self._compare_schemas(
                            base_siblings, revision_siblings, path, direction, out
                        )
            elif not self._union_reshaped(base_core, revision_core, path, direction, out):
                # `X` became `anyOf: [X, Y]` (or the reverse): compare variant by variant, so
                # that X is matched with X before either is resolved.
                self._compare_variants(
                    keyword, base_variants, revision_variants, path, direction, out
                )
            return
        if not isinstance(base_core, dict) or not isinstance(revision_core, dict):
            return
        self._compare_schemas(base_core, revision_core, path, direction, out)

    def _cross_refs(self, base: Any, revision: Any, path: str, out: PairDiff) -> None:
        if is_ref(base) and is_ref(revision) and base["$ref"] == revision["$ref"]:
            name = schema_name(base["$ref"])
            if name is not None and name not in self._changed:
                return  # the same component, equal in both documents down to its leaves
        base_target = self._base.resolve(base)
        revision_target = self._revision.resolve(revision)
        if base_target is base and revision_target is revision:
            return  # neither side can be followed (external or dangling refs)
        out.boundaries.append((path, base_target, revision_target))

    def _compare_schemas(
        self,
        base: dict[str, Any],
        revision: dict[str, Any],
        path: str,
        direction: Direction,
        out: PairDiff,
    ) -> None:
        base = self._flatten(base, self._base)
        revision = self._flatten(revision, self._revision)
        base_keyword, base_variants = _union(base)
        revision_keyword, revision_variants = _union(revision)
        keyword = revision_keyword or base_keyword
        if keyword is not None and self._union_reshaped(base, revision, path, direction, out):
            return
        if keyword is not None:
            self._compare_variants(keyword, base_variants, revision_variants, path, direction, out)
            if base_keyword is None or revision_keyword is None:
                return  # the plain side was compared, as one variant, with its counterpart
        if base != revision:
            if keyword is None:
                _compare_types(base, revision, path, direction, out)
            _compare_enums(base, revision, path, direction, out)
            _compare_consts(base, revision, path, direction, out)
            _compare_defaults(base, revision, path, direction, out)
            _compare_bounds(base, revision, path, direction, out)
            _compare_multiple_of(base, revision, path, direction, out)
            _compare_narrowing_flags(base, revision, path, direction, out)
            _compare_patterns(base, revision, path, direction, out)
            self._compare_property_sets(base, revision, path, direction, out)
            self._compare_prefix_items(base, revision, path, direction, out)
        base_properties = _mapping(base.get("properties"))
        revision_properties = _mapping(revision.get("properties"))
        for name, base_property in base_properties.items():
            revision_property = revision_properties.get(name)
            if revision_property is not None and not self._invisible(
                revision_property, self._revision, direction
            ):
                self._compare_node(
                    base_property, revision_property, f"{path}.{name}", direction, out
                )
        base_items, revision_items = base.get("items"), revision.get("items")
        if isinstance(base_items, dict) and isinstance(revision_items, dict):
            self._compare_node(base_items, revision_items, path + "[]", direction, out)
        base_extra = base.get("additionalProperties")
        revision_extra = revision.get("additionalProperties")
        if isinstance(base_extra, dict) and isinstance(revision_extra, dict):
            self._compare_node(base_extra, revision_extra, path + "{}", direction, out)

    def _union_reshaped(
        self, base: Any, revision: Any, path: str, direction: Direction, out: PairDiff
    ) -> bool:
        """oasdiff's two union patterns; True when one applies (and was reported).

        A type list (`type: x` <-> `oneOf/anyOf` of plain typed schemas) is compared as
        a set of types, and a body wrapped in a `oneOf` as one change, rather than variant
        by variant.
        """
        base = self._base.resolve(base)
        revision = self._revision.resolve(revision)
        if not isinstance(base, dict) or not isinstance(revision, dict):
            return False
        old = self._type_list(base, self._base)
        new = self._type_list(revision, self._revision)
        if old is not None and new is not None and old != new:
            _list_of_types_changed(old, new, path, direction, out)
            return True
        base_keyword = _union(base)[0]
        revision_keyword, revision_variants = _union(revision)
        if base_keyword is not None and revision_keyword is not None:
            return self._union_kept_as_branch(
                base, revision_keyword, revision_variants, direction, path, out
            )
        if path or base_keyword is not None or revision_keyword != "oneOf":
            return False
        return self._wrapped_in_one_of(
            self._flatten(base, self._base), revision_variants, direction, out
        )

    def _union_kept_as_branch(
        self,
        base: dict[str, Any],
        keyword: str,
        variants: list[Any],
        direction: Direction,
        path: str,
        out: PairDiff,
    ) -> bool:
        """`anyOf: [A, B]` became `oneOf: [anyOf: [A, B], C]`: only C is new.

        Every old value still matches the kept branch, so the change is the branches added
        beside it (compared variant by variant, A and B would look retyped).
        """
        resolved = [self._revision.resolve(v) for v in variants]
        kept = [i for i, v in enumerate(resolved) if _same_contract(base, v)]
        if not kept or len(variants) < 2:
            return False
        rule_word = "any-of" if keyword == "anyOf" else "one-of"
        for index, variant in enumerate(variants):
            if index != kept[0]:
                out.findings.append(
                    Finding(
                        path,
                        f"{rule_word}-added",
                        widening_level(direction),
                        f"gained the {keyword} variant {_describe(variant)}",
                    )
                )
        return True

    def _type_list(self, schema: dict[str, Any], resolver: RefResolver) -> frozenset[str] | None:
        """The types of `type: x`, or of a oneOf/anyOf whose variants each have one plain type."""
        if isinstance(schema.get("properties"), dict) or "allOf" in schema or "not" in schema:
            return None
        single = schema.get("type")
        if isinstance(single, str):
            return frozenset((single,))
        keyword, variants = _union(schema)
        if keyword is None:
            return None
        types: set[str] = set()
        for variant in variants:
            variant = resolver.resolve(variant)
            if not isinstance(variant, dict) or not isinstance(variant.get("type"), str):
                return None
            if any(k in variant for k in ("properties", "oneOf", "anyOf", "allOf")):
                return None
            types.add(variant["type"])
        return frozenset(types)

    def _wrapped_in_one_of(
        self, base: dict[str, Any], variants: list[Any], direction: Direction, out: PairDiff
    ) -> bool:
        """A body schema that became `oneOf: [..]` (oasdiff's *-wrapped-in-one-of rules).

        oneOf accepts a value that matches exactly one branch: when the old schema is kept
        as a branch but another branch may also match an old value (no type tells them
        apart), that old value is now rejected, which breaks a request (oasdiff rates it a
        warning; a reader of a response gets the new branches, also a break).
        """
        if not isinstance(base.get("properties"), dict) and _types(base) is None:
            return False
        resolved = [self._revision.resolve(v) for v in variants]
        resolved = [
            self._flatten(v, self._revision) if isinstance(v, dict) else v for v in resolved
        ]
        kept = [i for i, v in enumerate(resolved) if _same_contract(base, v)]
        if not kept:
            out.findings.append(
                Finding(
                    "", "wrapped-in-one-of", "error", f"was wrapped in a oneOf of {len(variants)}"
                )
            )
            return True
        others = [v for i, v in enumerate(resolved) if i != kept[0]]
        overlapping = any(_may_overlap(base, other) for other in others)
        level: Level = "error" if overlapping or direction == "response" else "warning"
        reason = (
            " with another branch that also matches old values, so oneOf now rejects them"
            if overlapping
            else ""
        )
        out.findings.append(
            Finding(
                "",
                "wrapped-in-one-of-original-preserved",
                level,
                f"was wrapped in a oneOf that keeps the original schema{reason}",
            )
        )
        return True

    def _compare_prefix_items(
        self,
        base: dict[str, Any],
        revision: dict[str, Any],
        path: str,
        direction: Direction,
        out: PairDiff,
    ) -> None:
        """Tuple positions (`prefixItems`, pydantic's `tuple[int, str]`), compared by position."""
        base_items, revision_items = base.get("prefixItems"), revision.get("prefixItems")
        if base_items == revision_items:
            return
        old = base_items if isinstance(base_items, list) else []
        new = revision_items if isinstance(revision_items, list) else []
        for index in range(min(len(old), len(new))):
            self._compare_node(old[index], new[index], f"{path}[{index}]", direction, out)
        if len(old) > len(new):
            # oasdiff: a warning either way; a position that lost its schema accepts anything.
            out.findings.append(
                Finding(
                    path,
                    "prefix-items-removed",
                    "warning",
                    f"lost {len(old) - len(new)} tuple positions (prefixItems)",
                )
            )
        elif len(new) > len(old):
            out.findings.append(
                Finding(
                    path,
                    "prefix-items-added",
                    "warning",
                    f"gained {len(new) - len(old)} tuple positions (prefixItems)",
                )
            )

    def _compare_property_sets(
        self,
        base: dict[str, Any],
        revision: dict[str, Any],
        path: str,
        direction: Direction,
        out: PairDiff,
    ) -> None:
        """Properties added, removed, or whose requiredness changed (not their schemas)."""
        base_properties = _mapping(base.get("properties"))
        revision_properties = _mapping(revision.get("properties"))
        base_required = _string_set(base.get("required"))
        revision_required = _string_set(revision.get("required"))
        if base_properties == revision_properties and base_required == revision_required:
            return
        for name, base_property in base_properties.items():
            property_path = f"{path}.{name}"
            revision_property = revision_properties.get(name)
            if revision_property is None:
                if not self._invisible(base_property, self._base, direction):
                    out.findings.append(
                        _property_removed(
                            property_path,
                            name in base_required,
                            direction,
                            fastapi=self._fastapi,
                            deprecated=_mapping(self._base.resolve(base_property)).get("deprecated")
                            is True,
                        )
                    )
                continue
            if self._invisible(revision_property, self._revision, direction):
                continue  # e.g. readOnly: a client never sends it
            was_required, is_required = name in base_required, name in revision_required
            if was_required != is_required:
                finding = _requiredness_changed(property_path, is_required, direction)
                if finding.rule == "request-property-became-required" and "default" in _mapping(
                    self._revision.resolve(revision_property)
                ):
                    # oasdiff's own id: the default no longer fills in for clients that omit it.
                    finding = replace(finding, rule="request-property-became-required-with-default")
                out.findings.append(finding)
        for name, revision_property in revision_properties.items():
            if name not in base_properties and not self._invisible(
                revision_property, self._revision, direction
            ):
                out.findings.append(
                    _property_added(f"{path}.{name}", name in revision_required, direction)
                )

    def _invisible(self, schema: Any, resolver: RefResolver, direction: Direction) -> bool:
        """True for a property that never travels in this direction (readOnly/writeOnly)."""
        flag = "readOnly" if direction == "request" else "writeOnly"
        if isinstance(schema, dict) and schema.get(flag) is True:
            return True
        target = resolver.resolve(schema)
        return isinstance(target, dict) and target.get(flag) is True

    def _compare_variants(
        self,
        keyword: str,
        base_variants: list[Any],
        revision_variants: list[Any],
        path: str,
        direction: Direction,
        out: PairDiff,
    ) -> None:
        """Compare unions: report variants added or removed, compare the matching ones."""
        pairs, removed, added = _match_variants(base_variants, revision_variants)
        rule_word = "any-of" if keyword == "anyOf" else "one-of"
        for index in removed:
            out.findings.append(
                Finding(
                    path,
                    f"{rule_word}-removed",
                    narrowing_level(direction),
                    f"lost the {keyword} variant {_describe(base_variants[index])}",
                )
            )
        for index in added:
            out.findings.append(
                Finding(
                    path,
                    f"{rule_word}-added",
                    widening_level(direction),
                    f"gained the {keyword} variant {_describe(revision_variants[index])}",
                )
            )
        for base_index, revision_index in pairs:
            self._compare_node(
                base_variants[base_index],
                revision_variants[revision_index],
                f"{path}.{keyword}[{revision_index}]",
                direction,
                out,
            )

    def _refers_to_changes(self, schema: Any) -> bool:
        """True if a ref inside `schema` may lead to a changed component."""
        cached = self._refers_to_changes_cache.get(id(schema))
        if cached is None:
            refers = False
            for ref in refs_in(schema):
                name = schema_name(ref)
                if name is None or name in self._changed:
                    refers = True
                    break
            cached = (schema, refers)
            self._refers_to_changes_cache[id(schema)] = cached
        return cached[1]

    # -- derived schemas -----------------------------------------------------------------

    def _view(self, schema: dict[str, Any]) -> tuple[Any, bool]:
        """The schema without its null alternative, and whether null is allowed."""
        cached = self._views.get(id(schema))
        if cached is None:
            cached = (schema, *_split_null(schema))
            self._views[id(schema)] = cached
        return cached[1], cached[2]

    def _flatten(self, schema: dict[str, Any], resolver: RefResolver) -> dict[str, Any]:
        """The schema with its `allOf` parts merged in (properties and required united)."""
        parts = schema.get("allOf")
        if not isinstance(parts, list):
            return schema
        cached = self._flattened.get(id(schema))
        if cached is not None:
            return cached[1]
        if id(schema) in self._flattening:
            return schema  # an allOf cycle: leave the inner occurrence unmerged
        self._flattening.add(id(schema))
        merged = {key: value for key, value in schema.items() if key != "allOf"}
        properties = dict(_mapping(merged.get("properties")))
        required = list(_string_set(merged.get("required")))
        for part in parts:
            target = resolver.resolve(part)
            if not isinstance(target, dict):
                continue
            target = self._flatten(target, resolver)
            for key, value in target.items():
                if key == "properties":
                    properties.update(_mapping(value))
                elif key == "required":
                    required.extend(_string_set(value))
                elif key not in merged and key not in _ANNOTATIONS:
                    merged[key] = value
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = sorted(set(required))
        self._flattening.discard(id(schema))
        self._flattened[id(schema)] = (schema, merged)
        return merged


def _property_added(path: str, required: bool, direction: Direction) -> Finding:
    if direction == "request":
        if required:
            return Finding(
                path, "new-required-request-property", "error", "was added, required", False
            )
        return Finding(
            path,
            "new-optional-request-property",
            "info",
            "was added as an optional property",
            False,
        )
    rule = "response-required-property-added" if required else "response-optional-property-added"
    return Finding(path, rule, "info", "was added", False)


def _property_removed(
    path: str, was_required: bool, direction: Direction, *, fastapi: bool, deprecated: bool
) -> Finding:
    if deprecated and (direction == "request" or was_required):
        # Deprecated first, so clients were warned (oasdiff: info).
        rule = (
            "request-property-removed-with-deprecation"
            if direction == "request"
            else "response-required-property-removed-with-deprecation"
        )
        return Finding(path, rule, "info", "was removed after being deprecated", False)
    if direction == "request":
        return Finding(path, "request-property-removed", "warning", "was removed", False)
    if was_required:
        return Finding(path, "response-required-property-removed", "error", "was removed", False)
    if fastapi:
        # FastAPI serializes every field of a response model (unless the route excludes
        # unset/None/default fields), so a field with a default reaches every client too.
        return Finding(
            path,
            "response-optional-property-removed",
            "error",
            "was removed (FastAPI sends every response field, so clients read it)",
            False,
        )
    return Finding(path, "response-optional-property-removed", "info", "was removed", False)


def _requiredness_changed(path: str, required: bool, direction: Direction) -> Finding:
    if direction == "request":
        if required:
            return Finding(
                path, "request-property-became-required", "error", "became required", False
            )
        return Finding(path, "request-property-became-optional", "info", "became optional", False)
    if required:
        return Finding(path, "response-property-became-required", "info", "became required", False)
    return Finding(
        path, "response-property-became-optional", "error", "became optional (may be absent)", False
    )


def _compare_types(
    base: dict[str, Any], revision: dict[str, Any], path: str, direction: Direction, out: PairDiff
) -> None:
    base_types, revision_types = _types(base), _types(revision)
    base_format, revision_format = base.get("format"), revision.get("format")
    if base_types == revision_types and base_format == revision_format:
        return
    # An untyped schema that constrains values in other ways (properties, enum…) is not
    # "any": without a type on both sides there is nothing reliable to compare.
    if (base_types is None and not _accepts_anything(base)) or (
        revision_types is None and not _accepts_anything(revision)
    ):
        return
    old_label = _type_label(base_types, base_format)
    new_label = _type_label(revision_types, revision_format)
    change = f"from {old_label} to {new_label}"
    if (
        direction == "request"
        and base_format == revision_format
        and _covers(revision_types, base_types)
    ):
        out.findings.append(
            Finding(path, "type-generalized", "info", f"type was generalized {change}")
        )
        return
    out.findings.append(Finding(path, "type-changed", "error", f"type/format changed {change}"))


def _compare_enums(
    base: dict[str, Any], revision: dict[str, Any], path: str, direction: Direction, out: PairDiff
) -> None:
    base_enum, revision_enum = base.get("enum"), revision.get("enum")
    if base_enum == revision_enum:
        return
    if isinstance(base_enum, list) and isinstance(revision_enum, list):
        for value in base_enum:
            if value not in revision_enum:
                out.findings.append(
                    Finding(
                        path,
                        "enum-value-removed",
                        narrowing_level(direction),
                        f"lost the enum value {_json_text(value)}",
                    )
                )
        # Readers of a response may not handle a value they have never seen (oasdiff v1.39
        # rates it an error; it rated it a warning before).
        added_level = widening_level(direction)
        for value in revision_enum:
            if value not in base_enum:
                out.findings.append(
                    Finding(
                        path,
                        "enum-value-added",
                        added_level,
                        f"gained the enum value {_json_text(value)}",
                    )
                )
    elif isinstance(revision_enum, list):
        values = ", ".join(_json_text(v) for v in revision_enum)
        out.findings.append(
            Finding(path, "became-enum", narrowing_level(direction), f"became an enum of {values}")
        )
    elif isinstance(base_enum, list):
        out.findings.append(
            Finding(path, "became-not-enum", widening_level(direction), "is no longer an enum")
        )


def _compare_consts(
    base: dict[str, Any], revision: dict[str, Any], path: str, direction: Direction, out: PairDiff
) -> None:
    """`const` (pydantic writes a one-value `Literal` as `const` plus a one-value `enum`)."""
    if "const" not in base and "const" not in revision:
        return
    old, new = base.get("const", _ABSENT), revision.get("const", _ABSENT)
    if old == new:
        return
    if old is _ABSENT:
        action, level = "added", narrowing_level(direction)
        message = f"was restricted to the constant {_json_text(new)}"
    elif new is _ABSENT:
        action, level = "removed", widening_level(direction)
        message = f"is no longer the constant {_json_text(old)}"
    else:
        action, level = "changed", "error"  # neither side accepts the other's value
        message = f"constant changed from {_json_text(old)} to {_json_text(new)}"
    out.findings.append(Finding(path, f"const-{action}", level, message))


def _compare_defaults(
    base: dict[str, Any], revision: dict[str, Any], path: str, direction: Direction, out: PairDiff
) -> None:
    """A request default that changed: clients that leave the value out now get another.

    A deliberate difference from oasdiff (info): the request still validates, but what
    the server does with it changed under the client's feet.
    """
    if direction != "request" or "default" not in base or "default" not in revision:
        return
    old, new = base["default"], revision["default"]
    if old != new:
        out.findings.append(
            Finding(
                path,
                "default-value-changed",
                "warning",
                f"default changed from {_json_text(old)} to {_json_text(new)}",
            )
        )


def _compare_multiple_of(
    base: dict[str, Any], revision: dict[str, Any], path: str, direction: Direction, out: PairDiff
) -> None:
    old, new = _number(base.get("multipleOf"), None), _number(revision.get("multipleOf"), None)
    if old == new:
        return
    level: Level
    if old is None or new is None:
        action = "set" if old is None else "unset"
        level = narrowing_level(direction) if old is None else widening_level(direction)
    elif direction == "request" and (old / new).is_integer():
        action, level = "generalized", "info"  # 6 -> 3: every old value is still a multiple
    elif direction == "response" and (new / old).is_integer():
        action, level = "specialized", "info"  # 3 -> 6: the server sends fewer values
    else:
        action, level = "changed", "error"
    out.findings.append(
        Finding(path, f"multiple-of-{action}", level, f"multipleOf {action}: {old} -> {new}")
    )


def _compare_narrowing_flags(
    base: dict[str, Any], revision: dict[str, Any], path: str, direction: Direction, out: PairDiff
) -> None:
    """`uniqueItems: true`, `additionalProperties: false`: set, they reject more values."""
    if base.get("uniqueItems") is not True and revision.get("uniqueItems") is True:
        out.findings.append(
            Finding(
                path, "unique-items-set", narrowing_level(direction), "now requires unique items"
            )
        )
    elif base.get("uniqueItems") is True and revision.get("uniqueItems") is not True:
        out.findings.append(
            Finding(
                path,
                "unique-items-unset",
                widening_level(direction),
                "no longer requires unique items",
            )
        )
    if (
        base.get("additionalProperties") is not False
        and revision.get("additionalProperties") is False
    ):
        out.findings.append(
            Finding(
                path,
                "additional-properties-disallowed",
                narrowing_level(direction),
                "now rejects properties it does not list (additionalProperties: false)",
            )
        )


def _list_of_types_changed(
    old: frozenset[str], new: frozenset[str], path: str, direction: Direction, out: PairDiff
) -> None:
    """Report the types a type list gained or lost (oasdiff's list-of-types rules)."""
    gained, lost = new - old, old - new
    # Fewer types narrow a request; more types widen a response (and the reverse is harmless).
    narrowed = bool(lost) if direction == "request" else not gained
    action = "narrowed" if narrowed else "widened"
    level: Level = "error" if narrowed == (direction == "request") else "info"
    changed = sorted(lost if narrowed else gained)
    out.findings.append(
        Finding(path, f"list-of-types-{action}", level, f"types {action}: {', '.join(changed)}")
    )


def _same_contract(base: dict[str, Any], variant: Any) -> bool:
    """True when a oneOf branch validates like the old schema (annotations aside)."""
    if not isinstance(variant, dict):
        return False
    return _without_annotations(base) == _without_annotations(variant)


def _without_ref(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$ref"}


def _without_annotations(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key not in _ANNOTATIONS}


def _may_overlap(schema: dict[str, Any], other: Any) -> bool:
    """False only when a type tells the two schemas' values apart."""
    if not isinstance(other, dict):
        return other is True
    mine, theirs = _types(schema), _types(other)
    if mine is None or theirs is None:
        return True
    # An integer is a number too.
    mine = mine | {"number"} if "integer" in mine else mine
    theirs = theirs | {"number"} if "integer" in theirs else theirs
    return bool(mine & theirs)


def _compare_bounds(
    base: dict[str, Any], revision: dict[str, Any], path: str, direction: Direction, out: PairDiff
) -> None:
    for keyword, word in _UPPER_BOUNDS:
        if keyword in base or keyword in revision:
            _compare_bound(base, revision, keyword, word, path, direction, out, upper=True)
    for keyword, word in _LOWER_BOUNDS:
        if keyword in base or keyword in revision:
            _compare_bound(base, revision, keyword, word, path, direction, out, upper=False)


def _compare_bound(
    base: dict[str, Any],
    revision: dict[str, Any],
    keyword: str,
    word: str,
    path: str,
    direction: Direction,
    out: PairDiff,
    *,
    upper: bool,
) -> None:
    old = _number(base.get(keyword), None)
    new = _number(revision.get(keyword), None)
    if old == new:
        return
    if old is None:
        assert new is not None
        action, narrowing, message = "set", True, f"{keyword} was set to {_number_text(new)}"
    elif new is None:
        action, narrowing, message = (
            "unset",
            False,
            f"{keyword} was removed (was {_number_text(old)})",
        )
    else:
        increased = new > old
        action = "increased" if increased else "decreased"
        narrowing = increased != upper  # a higher max, or a lower min, accepts more values
        message = f"{keyword} {action} from {_number_text(old)} to {_number_text(new)}"
    level = narrowing_level(direction) if narrowing else widening_level(direction)
    out.findings.append(Finding(path, f"{word}-{action}", level, message))


def _compare_patterns(
    base: dict[str, Any], revision: dict[str, Any], path: str, direction: Direction, out: PairDiff
) -> None:
    old, new = base.get("pattern"), revision.get("pattern")
    if old == new:
        return
    # Whether one regex accepts a superset of another is undecidable in general: any new or
    # changed pattern on a request may reject values that were valid. On a response a pattern
    # only documents what the server sends (oasdiff reports those as info too).
    if old is None:
        action, level, message = "added", narrowing_level(direction), f"gained the pattern {new!r}"
    elif new is None:
        action, level, message = "removed", "info", f"lost the pattern {old!r}"
    else:
        action, level = "changed", narrowing_level(direction)
        message = f"pattern changed from {old!r} to {new!r}"
    out.findings.append(Finding(path, f"pattern-{action}", level, message))


def _match_variants(
    base: list[Any], revision: list[Any]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair union variants: equal ones, then same kind (ref target or type), then by position.

    Returns the pairs (base index, revision index), the unmatched base indexes (removed)
    and the unmatched revision indexes (added).
    """
    pairs: list[tuple[int, int]] = []
    base_left = list(range(len(base)))
    revision_left = list(range(len(revision)))
    for same in (_equal_variants, _same_kind_variants):
        for base_index in list(base_left):
            for revision_index in revision_left:
                if same(base[base_index], revision[revision_index]):
                    pairs.append((base_index, revision_index))
                    base_left.remove(base_index)
                    revision_left.remove(revision_index)
                    break
    if len(base_left) == len(revision_left):
        pairs.extend(zip(base_left, revision_left, strict=True))
        return pairs, [], []
    return pairs, base_left, revision_left


def _equal_variants(base: Any, revision: Any) -> bool:
    return bool(base == revision)


def _same_kind_variants(base: Any, revision: Any) -> bool:
    return _variant_kind(base) == _variant_kind(revision)


def _variant_kind(variant: Any) -> object:
    if is_ref(variant):
        return variant["$ref"]
    if isinstance(variant, dict):
        return _types(variant), variant.get("format")
    return variant


_ABSENT = object()


def _split_null(schema: dict[str, Any]) -> tuple[Any, bool]:
    """Split `anyOf: [X, {type: null}]`, `type: [x, "null"]` and `nullable: true` into (X, True)."""
    nullable = schema.get("nullable") is True
    types = schema.get("type")
    if isinstance(types, list) and "null" in types:
        nullable = True
    for keyword in _UNIONS:
        variants = schema.get(keyword)
        if isinstance(variants, list) and any(_accepts_null(v) for v in variants):
            # A nested nullable union (`anyOf: [anyOf: [X, null], Y]`) lends its null out.
            rest = [_split_null(v)[0] if _accepts_null(v) else v for v in variants]
            rest = [v for v in rest if not _is_null(v)]
            siblings = {key: value for key, value in schema.items() if key != keyword}
            if len(rest) == 1 and (is_ref(rest[0]) or _only_annotations(siblings)):
                return rest[0], True
            if len(rest) == 1 and isinstance(rest[0], dict):
                return {**siblings, **rest[0]}, True
            return {**siblings, keyword: rest}, True
    parts = schema.get("allOf")
    if isinstance(parts, list) and len(parts) == 1:
        siblings = {key: value for key, value in schema.items() if key != "allOf"}
        if _only_annotations(siblings):
            # The `allOf: [{$ref}]` wrapper used to attach a description (or 3.0 nullable).
            return parts[0], nullable
    return schema, nullable


def _is_null(variant: Any) -> bool:
    return isinstance(variant, dict) and variant.get("type") == "null"


def _accepts_null(variant: Any) -> bool:
    """A union variant that is null, or an inline union with a null branch."""
    if _is_null(variant):
        return True
    if not isinstance(variant, dict) or is_ref(variant):
        return False
    return any(
        isinstance(variant.get(keyword), list) and any(_is_null(v) for v in variant[keyword])
        for keyword in _UNIONS
    )


def _only_annotations(schema: Mapping[str, Any]) -> bool:
    return all(key in _ANNOTATIONS or key.startswith("x-") for key in schema)


def _accepts_anything(schema: Mapping[str, Any]) -> bool:
    return _only_annotations(schema)


def _union(schema: Any) -> tuple[str | None, list[Any]]:
    """The union keyword and variants of a schema; a ref or a plain schema is its own variant."""
    if isinstance(schema, dict) and not is_ref(schema):
        for keyword in _UNIONS:
            variants = schema.get(keyword)
            if isinstance(variants, list):
                return keyword, variants
    return None, [schema]


def _types(schema: Mapping[str, Any]) -> frozenset[str] | None:
    types = schema.get("type")
    if isinstance(types, str):
        return frozenset((types,))
    if isinstance(types, list):
        return frozenset(t for t in types if isinstance(t, str) and t != "null")
    return None


def _covers(outer: frozenset[str] | None, inner: frozenset[str] | None) -> bool:
    """True when every value of the `inner` types is also a value of the `outer` types."""
    if outer is None:
        return True
    if inner is None:
        return False
    return all(t in outer or (t == "integer" and "number" in outer) for t in inner)


def _type_label(types: frozenset[str] | None, format_: Any) -> str:
    label = "/".join(sorted(types)) if types else "any"
    return f"{label}/{format_}" if format_ is not None else label


def _describe(variant: Any) -> str:
    if is_ref(variant):
        return str(variant["$ref"]).rsplit("/", 1)[-1]
    if isinstance(variant, dict):
        return _type_label(_types(variant), variant.get("format"))
    return _json_text(variant)


def _number(value: Any, default: float | None) -> float | None:
    # `exclusiveMinimum: true` is OpenAPI 3.0's flag form, not a bound.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value) if math.isfinite(value) else default


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string_set(value: Any) -> set[str]:
    return {item for item in value if isinstance(item, str)} if isinstance(value, list) else set()
