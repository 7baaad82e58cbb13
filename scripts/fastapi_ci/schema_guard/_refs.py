"""Local `$ref` resolution, and which components changed (directly or through their refs)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

_SCHEMA_REF_PREFIX = "#/components/schemas/"
# `"$ref": "<json string>"` as `json.dumps` writes it: C-speed ref extraction from a subtree.
_DUMPED_REF = re.compile(r'"\$ref": "((?:[^"\\]|\\.)*)"')
# A ref-to-ref chain longer than this is a cycle (or absurd): stop following it.
_MAX_REF_CHAIN = 64


def is_ref(node: Any) -> bool:
    """True for a `{"$ref": "..."}` object."""
    return isinstance(node, dict) and isinstance(node.get("$ref"), str)


class RefResolver:
    """Follows local `$ref`s (`#/…` JSON pointers) inside one document.

    External refs (`other.yaml#/…`) and dangling refs are not followed: the `$ref` object is
    returned as is, and compared by its text.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = document
        self._targets: dict[str, Any] = {}

    def resolve(self, node: Any) -> Any:
        """The object `node` refers to (following chains of refs), or `node` if not a ref."""
        for _ in range(_MAX_REF_CHAIN):
            if not is_ref(node):
                return node
            target = self.target(node["$ref"])
            if target is None:
                return node
            node = target
        return node

    def target(self, ref: str) -> Any:
        """The object at a local JSON pointer, or None when it cannot be followed."""
        if ref in self._targets:
            return self._targets[ref]
        target: Any = None
        if ref.startswith("#/"):
            target = self._document
            for token in ref[2:].split("/"):
                key = unquote(token).replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and key in target:
                    target = target[key]
                elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
                    target = target[int(key)]
                else:
                    target = None
                    break
        self._targets[ref] = target
        return target


def reference_problem(document: Mapping[str, Any]) -> str | None:
    """Why some `$ref` of the document cannot be followed, or None when all can.

    A ref to another file (not bundled), a ref to nothing, and refs that only point at
    each other (no schema at the end) all make the document unreadable: a diff that
    skipped them would report "no changes" for whatever they hide.
    """
    resolver = RefResolver(document)
    for ref in sorted(set(refs_in(document))):
        if not ref.startswith("#"):
            return (
                f"$ref {ref!r} points into another file; bundle the document into one "
                "file first (for example `redocly bundle`)"
            )
        seen = [ref]
        target = resolver.target(ref)
        while is_ref(target):
            following = target["$ref"]
            if following in seen:
                return f"$ref cycle: {' -> '.join([*seen, following])} never reaches a schema"
            seen.append(following)
            target = resolver.target(following)
        if target is None:
            return f"$ref {seen[-1]!r} points to nothing in the document"
    return None


def schema_name(ref: str) -> str | None:
    """The component name of a plain `#/components/schemas/<name>` ref, else None."""
    if not ref.startswith(_SCHEMA_REF_PREFIX):
        return None
    token = ref[len(_SCHEMA_REF_PREFIX) :]
    if "/" in token:
        return None
    return unquote(token).replace("~1", "/").replace("~0", "~")


def refs_in(node: Any) -> list[str]:
    """Every `$ref` string inside a subtree (found by `json.dumps` and a regex, at C speed)."""
    return [
        json.loads(f'"{encoded}"')
        for encoded in _DUMPED_REF.findall(json.dumps(node, ensure_ascii=False))
    ]


def changed_schemas(base: Mapping[str, Any], revision: Mapping[str, Any]) -> frozenset[str]:
    """Names of the schema components that differ between the documents, directly or deep.

    A component is unchanged only if it is equal (`==`, compared in C) in both documents and
    every schema it refers to is unchanged too. Pairs of refs to unchanged components are
    then skipped without being walked: that is most of a large document.
    """
    base_schemas = _schemas(base)
    revision_schemas = _schemas(revision)
    changed = {
        name for name, schema in base_schemas.items() if revision_schemas.get(name) != schema
    }
    changed.update(name for name in revision_schemas if name not in base_schemas)
    # Who refers to whom, among the components equal in both documents (their refs are the
    # same on both sides).
    referrers: dict[str, list[str]] = {}
    for name, schema in base_schemas.items():
        if name in changed:
            continue
        for ref in refs_in(schema):
            target = schema_name(ref)
            if target is None:
                changed.add(name)  # a ref we cannot track: never assume it unchanged
                break
            referrers.setdefault(target, []).append(name)
    pending = list(changed)
    while pending:
        for referrer in referrers.get(pending.pop(), ()):
            if referrer not in changed:
                changed.add(referrer)
                pending.append(referrer)
    return frozenset(changed)


def _schemas(document: Mapping[str, Any]) -> dict[str, Any]:
    components = document.get("components")
    schemas = components.get("schemas") if isinstance(components, dict) else None
    return schemas if isinstance(schemas, dict) else {}
