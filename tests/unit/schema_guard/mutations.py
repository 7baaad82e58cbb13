"""(base, revision) pairs made by mutating real OpenAPI documents, for the differential test.

The documents are our fixture apps' exports and slices of the big real specs of the bench
(a few operations with every component they reach, so that each run of oasdiff stays small).
Each mutation is one edit a developer makes: remove/rename/retype a property, tighten or
loosen a constraint, add/remove a parameter, a media type, an enum value, security, wrap a
schema in oneOf/anyOf... applied at a place chosen by a seeded random generator, so the
pairs are the same on every run.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi_ci.schema_guard._refs import refs_in, schema_name

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
Document = dict[str, Any]


@dataclass(frozen=True)
class Pair:
    """A base document, a revision made from it by one mutation, and what that mutation was."""

    name: str
    base: Document
    revision: Document


def operation_slices(
    document: Document, *, operations_per_slice: int, max_components: int, slices: int
) -> list[Document]:
    """Small documents cut from a big one: a few operations and every component they reach."""
    schemas = document.get("components", {}).get("schemas", {})
    candidates: list[tuple[str, str, set[str]]] = []
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if isinstance(item.get(method), dict):
                reached = _reached_components(item[method], schemas)
                if len(reached) <= max_components:
                    candidates.append((path, method, reached))
    picker = random.Random(len(candidates))
    picker.shuffle(candidates)
    cut: list[Document] = []
    for start in range(
        0, min(len(candidates), slices * operations_per_slice), operations_per_slice
    ):
        chosen = candidates[start : start + operations_per_slice]
        paths: dict[str, Any] = {}
        names: set[str] = set()
        for path, method, reached in chosen:
            item = document["paths"][path]
            paths.setdefault(path, {k: v for k, v in item.items() if k not in HTTP_METHODS})
            paths[path][method] = item[method]
            names |= reached
        components = {
            key: value for key, value in document.get("components", {}).items() if key != "schemas"
        }
        components["schemas"] = {name: schemas[name] for name in sorted(names) if name in schemas}
        sliced = {key: value for key, value in document.items() if key not in ("paths", "webhooks")}
        sliced["paths"] = paths
        sliced["components"] = components
        cut.append(copy.deepcopy(sliced))
    return cut


def _reached_components(node: Any, schemas: dict[str, Any]) -> set[str]:
    reached: set[str] = set()
    pending = [ref for ref in refs_in(node)]
    while pending:
        name = schema_name(pending.pop())
        if name is None or name in reached or name not in schemas:
            continue
        reached.add(name)
        pending.extend(refs_in(schemas[name]))
    return reached


# -- where mutations apply ---------------------------------------------------------------------


def _object_schemas(document: Document) -> list[dict[str, Any]]:
    """Every schema with `properties`, anywhere in the document."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict) and node["properties"]:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found


def _operations(document: Document) -> list[dict[str, Any]]:
    return [
        item[method]
        for item in document["paths"].values()
        for method in HTTP_METHODS
        if isinstance(item.get(method), dict)
    ]


def _leaf_properties(document: Document) -> list[tuple[dict[str, Any], str]]:
    """(object schema, property name) for properties that are inline, non-ref schemas."""
    return [
        (schema, name)
        for schema in _object_schemas(document)
        for name, value in schema["properties"].items()
        if isinstance(value, dict) and "$ref" not in value
    ]


Mutation = Callable[[Document, random.Random], str | None]


def remove_property(document: Document, rng: random.Random) -> str | None:
    schemas = _object_schemas(document)
    if not schemas:
        return None
    schema = rng.choice(schemas)
    name = rng.choice(sorted(schema["properties"]))
    del schema["properties"][name]
    if isinstance(schema.get("required"), list) and name in schema["required"]:
        schema["required"].remove(name)
        if not schema["required"]:
            del schema["required"]
    return f"remove property {name}"


def remove_optional_property(document: Document, rng: random.Random) -> str | None:
    optional = [
        (schema, name)
        for schema in _object_schemas(document)
        for name in schema["properties"]
        if name not in schema.get("required", [])
    ]
    if not optional:
        return None
    schema, name = rng.choice(optional)
    del schema["properties"][name]
    return f"remove optional property {name}"


def rename_property(document: Document, rng: random.Random) -> str | None:
    schemas = _object_schemas(document)
    if not schemas:
        return None
    schema = rng.choice(schemas)
    name = rng.choice(sorted(schema["properties"]))
    schema["properties"][name + "_renamed"] = schema["properties"].pop(name)
    if isinstance(schema.get("required"), list) and name in schema["required"]:
        schema["required"] = [name + "_renamed" if n == name else n for n in schema["required"]]
    return f"rename property {name}"


def add_property(document: Document, rng: random.Random) -> str | None:
    schemas = _object_schemas(document)
    if not schemas:
        return None
    schema = rng.choice(schemas)
    schema["properties"]["added_field"] = {"type": "string"}
    if rng.random() < 0.5:
        schema["required"] = [*schema.get("required", []), "added_field"]
        return "add required property"
    return "add optional property"


def toggle_required(document: Document, rng: random.Random) -> str | None:
    schemas = _object_schemas(document)
    if not schemas:
        return None
    schema = rng.choice(schemas)
    name = rng.choice(sorted(schema["properties"]))
    required = list(schema.get("required", []))
    if name in required:
        required.remove(name)
    else:
        required.append(name)
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    return f"toggle required {name}"


_RETYPE = {"string": "integer", "integer": "string", "number": "string", "boolean": "string"}


def retype_property(document: Document, rng: random.Random) -> str | None:
    leaves = [
        (s, n) for s, n in _leaf_properties(document) if s["properties"][n].get("type") in _RETYPE
    ]
    if not leaves:
        return None
    schema, name = rng.choice(leaves)
    prop = schema["properties"][name]
    prop["type"] = _RETYPE[prop["type"]]
    for keyword in ("format", "enum", "pattern", "maxLength", "minLength", "maximum", "minimum"):
        prop.pop(keyword, None)
    return f"retype property {name}"


_CONSTRAINTS: dict[str, list[tuple[str, Any]]] = {
    "string": [("maxLength", 20), ("minLength", 3), ("pattern", "^[a-z]+$")],
    "integer": [("maximum", 1000), ("minimum", 5), ("multipleOf", 2)],
    "number": [("maximum", 1000), ("minimum", 5), ("exclusiveMaximum", 999)],
    "array": [("maxItems", 10), ("minItems", 2), ("uniqueItems", True)],
    "object": [("additionalProperties", False), ("maxProperties", 5)],
}


def tighten_constraint(document: Document, rng: random.Random) -> str | None:
    leaves = [
        (s, n)
        for s, n in _leaf_properties(document)
        if s["properties"][n].get("type") in _CONSTRAINTS
    ]
    if not leaves:
        return None
    schema, name = rng.choice(leaves)
    prop = schema["properties"][name]
    keyword, value = rng.choice(_CONSTRAINTS[prop["type"]])
    if (
        keyword in prop
        and isinstance(prop[keyword], int | float)
        and not isinstance(prop[keyword], bool)
    ):
        # An existing bound moves the narrowing way: a max down, a min up.
        prop[keyword] = prop[keyword] - 1 if keyword.startswith("max") else prop[keyword] + 1
        return f"move {keyword} of {name}"
    prop[keyword] = value
    return f"set {keyword} on {name}"


def loosen_constraint(document: Document, rng: random.Random) -> str | None:
    keywords = ("maxLength", "minLength", "maximum", "minimum", "pattern", "maxItems", "minItems")
    leaves = [
        (s, n, k)
        for s, n in _leaf_properties(document)
        for k in keywords
        if k in s["properties"][n]
    ]
    if not leaves:
        return None
    schema, name, keyword = rng.choice(leaves)
    prop = schema["properties"][name]
    if rng.random() < 0.5 or not isinstance(prop[keyword], int | float):
        del prop[keyword]
        return f"remove {keyword} of {name}"
    prop[keyword] = prop[keyword] + 1 if keyword.startswith("max") else max(prop[keyword] - 1, 0)
    return f"relax {keyword} of {name}"


def change_enum(document: Document, rng: random.Random) -> str | None:
    leaves = [
        (s, n)
        for s, n in _leaf_properties(document)
        if isinstance(s["properties"][n].get("enum"), list)
    ]
    if not leaves:
        return None
    schema, name = rng.choice(leaves)
    prop = schema["properties"][name]
    if rng.random() < 0.5 and len(prop["enum"]) > 1:
        prop["enum"] = prop["enum"][:-1]
        return f"remove enum value of {name}"
    prop["enum"] = [*prop["enum"], "added-value"]
    return f"add enum value to {name}"


def make_nullable(document: Document, rng: random.Random) -> str | None:
    leaves = [
        (s, n)
        for s, n in _leaf_properties(document)
        if isinstance(s["properties"][n].get("type"), str)
    ]
    if not leaves:
        return None
    schema, name = rng.choice(leaves)
    prop = schema["properties"][name]
    if document["openapi"].startswith("3.0"):
        prop["nullable"] = True
    else:
        prop["type"] = [prop["type"], "null"]
    return f"make {name} nullable"


def wrap_in_union(document: Document, rng: random.Random) -> str | None:
    leaves = _leaf_properties(document)
    if not leaves:
        return None
    schema, name = rng.choice(leaves)
    keyword = rng.choice(("oneOf", "anyOf"))
    schema["properties"][name] = {keyword: [schema["properties"][name], {"type": "boolean"}]}
    return f"wrap {name} in {keyword}"


def _parameter_lists(document: Document) -> list[list[Any]]:
    return [op.setdefault("parameters", []) for op in _operations(document)]


def add_parameter(document: Document, rng: random.Random) -> str | None:
    parameters = rng.choice(_parameter_lists(document))
    required = rng.random() < 0.5
    parameters.append(
        {"name": "added_param", "in": "query", "required": required, "schema": {"type": "string"}}
    )
    return f"add {'required' if required else 'optional'} query parameter"


def remove_parameter(document: Document, rng: random.Random) -> str | None:
    lists = [p for p in _parameter_lists(document) if any(_is_query_or_header(x) for x in p)]
    if not lists:
        return None
    parameters = rng.choice(lists)
    removable = [x for x in parameters if _is_query_or_header(x)]
    parameters.remove(rng.choice(removable))
    return "remove a parameter"


def change_parameter(document: Document, rng: random.Random) -> str | None:
    lists = [p for p in _parameter_lists(document) if any(_is_query_or_header(x) for x in p)]
    if not lists:
        return None
    parameter = rng.choice([x for x in rng.choice(lists) if _is_query_or_header(x)])
    schema = parameter.setdefault("schema", {})
    choice = rng.randrange(4)
    if choice == 0:
        parameter["required"] = not parameter.get("required", False)
        return "toggle a parameter's required"
    if choice == 2 and isinstance(schema.get("type"), str):
        schema["type"] = "boolean" if schema["type"] != "boolean" else "string"
        return "retype a parameter"
    # `int | None` is `anyOf: [{type: integer}, {type: null}]`: the bound goes on the int.
    typed = [v for v in schema.get("anyOf", []) if isinstance(v, dict) and v.get("type") != "null"]
    target = typed[0] if len(typed) == 1 else schema
    target["maxLength" if target.get("type") == "string" else "maximum"] = 3
    return "bound a parameter"


def change_parameter_default(document: Document, rng: random.Random) -> str | None:
    defaults = [
        x
        for p in _parameter_lists(document)
        for x in p
        if _is_query_or_header(x) and "default" in x.get("schema", {})
    ]
    if not defaults:
        return None
    schema = rng.choice(defaults)["schema"]
    old = schema["default"]
    schema["default"] = (
        not old if isinstance(old, bool) else old + 1 if isinstance(old, int) else f"{old}-changed"
    )
    return "change a parameter's default"


def _is_query_or_header(parameter: Any) -> bool:
    return isinstance(parameter, dict) and parameter.get("in") in ("query", "header")


def _contents(document: Document) -> list[dict[str, Any]]:
    contents = []
    for operation in _operations(document):
        body = operation.get("requestBody")
        if isinstance(body, dict) and isinstance(body.get("content"), dict):
            contents.append(body["content"])
        for response in operation.get("responses", {}).values():
            if isinstance(response, dict) and isinstance(response.get("content"), dict):
                contents.append(response["content"])
    return contents


def change_media_type(document: Document, rng: random.Random) -> str | None:
    contents = [c for c in _contents(document) if c]
    if not contents:
        return None
    content = rng.choice(contents)
    if rng.random() < 0.5:
        del content[rng.choice(sorted(content))]
        return "remove a media type"
    content["application/xml"] = copy.deepcopy(next(iter(content.values())))
    return "add a media type"


def wrap_body_in_one_of(document: Document, rng: random.Random) -> str | None:
    media = [
        m for c in _contents(document) for m in c.values() if isinstance(m, dict) and "schema" in m
    ]
    if not media:
        return None
    chosen = rng.choice(media)
    chosen["schema"] = {"oneOf": [chosen["schema"], {"type": "object"}]}
    return "wrap a body in oneOf"


def change_security(document: Document, rng: random.Random) -> str | None:
    operation = rng.choice(_operations(document))
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    if operation.get("security"):
        operation["security"] = [] if rng.random() < 0.5 else operation["security"][1:]
        return "remove security from an operation"
    schemes.setdefault("addedKey", {"type": "apiKey", "in": "header", "name": "X-Key"})
    operation["security"] = [{"addedKey": []}]
    return "add security to an operation"


def remove_operation(document: Document, rng: random.Random) -> str | None:
    candidates = [
        (path, method)
        for path, item in document["paths"].items()
        for method in HTTP_METHODS
        if isinstance(item.get(method), dict)
    ]
    path, method = rng.choice(candidates)
    del document["paths"][path][method]
    if not any(m in document["paths"][path] for m in HTTP_METHODS):
        del document["paths"][path]
    return f"remove {method.upper()} {path}"


def remove_success_status(document: Document, rng: random.Random) -> str | None:
    operations = [
        op
        for op in _operations(document)
        if any(s.startswith("2") for s in op.get("responses", {}))
    ]
    if not operations:
        return None
    responses = rng.choice(operations)["responses"]
    del responses[next(s for s in responses if s.startswith("2"))]
    responses.setdefault("default", {"description": "anything"})
    return "remove a success status"


MUTATIONS: tuple[Mutation, ...] = (
    remove_property,
    remove_optional_property,
    rename_property,
    add_property,
    toggle_required,
    retype_property,
    tighten_constraint,
    loosen_constraint,
    change_enum,
    make_nullable,
    wrap_in_union,
    add_parameter,
    remove_parameter,
    change_parameter,
    change_parameter_default,
    change_media_type,
    wrap_body_in_one_of,
    change_security,
    remove_operation,
    remove_success_status,
)


def mutated_pairs(sources: dict[str, Document], count: int, seed: int = 16) -> Iterator[Pair]:
    """`count` pairs, cycling through the mutations and the source documents."""
    rng = random.Random(seed)
    names = sorted(sources)
    made = attempts = 0
    while made < count and attempts < count * 10:
        attempts += 1
        mutation = MUTATIONS[attempts % len(MUTATIONS)]
        # Every (mutation, source) combination in turn, whatever the two counts are.
        name = names[(attempts // len(MUTATIONS)) % len(names)]
        revision = copy.deepcopy(sources[name])
        what = mutation(revision, rng)
        if what is None:
            continue
        made += 1
        yield Pair(f"{made:03d} {name}: {what}", sources[name], revision)


def write_json(path: Path, document: Document) -> Path:
    """Write a document where oasdiff can read it."""
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
