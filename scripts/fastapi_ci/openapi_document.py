"""Reading and writing OpenAPI documents (JSON or YAML, OpenAPI 3.0 and 3.1).

Below the actions: schema-guard compares them, verify derives its smoke tests from one,
init writes the first golden file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from fastapi_ci.errors import InputError
from fastapi_ci.input_files import BOUNDED_WHY, check_tree, read_text_file

_SUPPORTED_VERSION = re.compile(r"3\.[01]\.\d+")

# The C loader parses a 4 MB document about ten times faster than the pure-Python one.
_BaseYamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _YamlLoader(_BaseYamlLoader):  # type: ignore[valid-type,misc]
    """A safe loader that keeps dates as strings, as a JSON document would have them."""


# NOTE: YAML 1.1 turns `2024-01-31` into a `date`, which no JSON document can contain and
# which `dump_document` could not write back; OpenAPI means the string.
_YamlLoader.yaml_implicit_resolvers = {
    first_char: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first_char, resolvers in _BaseYamlLoader.yaml_implicit_resolvers.items()
}
NOT_OPENAPI_FIX = (
    "name the app's OpenAPI document as exported (fastapi-ci schema-export writes one)"
)


def load_document(path: Path, *, input_name: str) -> dict[str, Any]:
    """Load an OpenAPI 3.0/3.1 document from a JSON or YAML file.

    Raises `InputError` naming `input_name` and the file when the file cannot be read, is
    neither JSON nor YAML, or is not an OpenAPI 3.0/3.1 document.
    """
    text = read_text_file(path, input_name)
    document = check_tree(_parse(text, path, input_name), path, input_name)
    return _check_openapi(document, path, input_name)


def dump_document(document: Any) -> str:
    """Serialise a document deterministically, so a committed golden file diffs cleanly."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _parse(text: str, path: Path, input_name: str) -> Any:
    # JSON first: it is what FastAPI exports and `json` is the fastest parser we have.
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # YAML flow style also starts with `{`; let the YAML parser decide.
        except RecursionError:
            raise _too_deep(path, input_name) from None
    try:
        # Aliases are refused by check_tree before anything walks the tree; _string_keys
        # would expand them, so it runs only on what check_tree let through.
        loaded = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 (a safe loader)
        return _string_keys(check_tree(loaded, path, input_name))
    except RecursionError:
        raise _too_deep(path, input_name) from None
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            input_name,
            f"{path}: not valid JSON or YAML ({reason})",
            fix="Check that the file is an OpenAPI document exported as JSON or YAML.",
            docs="schema-guard#schema-guard",
        ) from None


def _too_deep(path: Path, input_name: str) -> InputError:
    """A document the parser itself could not descend (JSON's or YAML's recursion limit)."""
    return InputError(
        input_name,
        f"{path} nests too deeply to be read",
        why=BOUNDED_WHY,
        docs="actions#what-every-action-guarantees",
    )


def _string_keys(node: Any) -> Any:
    """Make every mapping key a string, as in JSON (YAML reads `200:` as an integer)."""
    if isinstance(node, dict):
        return {
            (key if isinstance(key, str) else _yaml_scalar_text(key)): _string_keys(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_string_keys(item) for item in node]
    return node


def _yaml_scalar_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def _check_openapi(document: Any, path: Path, input_name: str) -> dict[str, Any]:
    """Return the document if it is an OpenAPI 3.0/3.1 document, else raise `InputError`."""
    if not isinstance(document, dict):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        raise InputError(
            input_name,
            f"{path}: not an OpenAPI document (the file is {kind}, not a mapping)",
            fix=NOT_OPENAPI_FIX,
            docs="schema-guard#schema-guard",
        )
    if "swagger" in document:
        raise InputError(
            input_name,
            f"{path}: Swagger {document['swagger']} is not supported, only OpenAPI 3.0 and 3.1",
            fix="Convert the document to OpenAPI 3 (for example with swagger2openapi).",
            why="the comparison rules are those of OpenAPI 3.0 and 3.1",
            docs="schema-guard#schema-guard",
        )
    version = document.get("openapi")
    if version is None:
        raise InputError(
            input_name,
            f"{path}: not an OpenAPI document (no 'openapi' field)",
            fix=NOT_OPENAPI_FIX,
            docs="schema-guard#schema-guard",
        )
    if not isinstance(version, str) or not _SUPPORTED_VERSION.fullmatch(version):
        raise InputError(
            input_name,
            f"{path}: OpenAPI version {version!r} is not supported (expected 3.0.x or 3.1.x)",
            why="the comparison rules are those of OpenAPI 3.0 and 3.1",
            docs="schema-guard#schema-guard",
        )
    if not isinstance(document.get("paths"), dict):
        raise InputError(
            input_name,
            f"{path}: not an OpenAPI document ('paths' is not a mapping)",
            fix=NOT_OPENAPI_FIX,
            docs="schema-guard#schema-guard",
        )
    return document
