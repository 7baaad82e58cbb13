"""Every action.yml default is the default of its input in the command's model.

The action passes its default through env when a workflow sets nothing; the command on a
laptop uses the model's default. Where the two differ, the same input means one thing on
GitHub and another on the command line (and the docs' table, made from action.yml,
documents only one of them).
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import yaml
from pydantic import TypeAdapter
from pydantic.fields import FieldInfo

from fastapi_ci import action_io
from fastapi_ci.action_io import ActionInputs
from tests.support.actions import ACTION_FILES, command_step

# An empty default is "unset" (an empty FASTAPI_CI_* variable is, see action_io): it agrees
# with a model default that is empty too, and with nothing else.
EMPTY_MODEL_DEFAULTS: tuple[object, ...] = (None, "", [])


def declared_inputs() -> list[tuple[str, str, type[ActionInputs], str, dict[str, Any]]]:
    """(action, input, inputs model, model field, action.yml's spec) for every input of
    every action."""
    found = []
    for path in ACTION_FILES:
        metadata = yaml.safe_load(path.read_text())
        action, _step = command_step(metadata)
        for name, spec in metadata["inputs"].items():
            found.append((path.parent.name, name, action.inputs, name.replace("-", "_"), spec))
    return found


def model_value_of(model: type[ActionInputs], field: str, text: str) -> Any:
    """What the model makes of `text` arriving through env, as `action_io.load_inputs`
    turns it into the field's type (its constraints included)."""
    info: FieldInfo = model.model_fields[field]
    parsed = action_io._parse_env_value(model, field, text)
    field_type = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return TypeAdapter(field_type).validate_python(parsed)


INPUTS = declared_inputs()
DEFAULTS = [
    (action, name, model, field, spec["default"])
    for action, name, model, field, spec in INPUTS
    if "default" in spec
]


def test_there_are_defaults_to_compare() -> None:
    assert len({action for action, *_ in DEFAULTS}) == len(ACTION_FILES)


@pytest.mark.parametrize(
    ("model", "field", "declared"),
    [
        pytest.param(model, field, declared, id=f"{action}:{name}")
        for action, name, model, field, declared in DEFAULTS
    ],
)
def test_the_action_yml_default_is_the_models_default(
    model: type[ActionInputs], field: str, declared: object
) -> None:
    info = model.model_fields[field]
    assert not info.is_required(), f"action.yml has a default, the model requires {field}"
    model_default = info.get_default(call_default_factory=True)
    # YAML may load an unquoted default as a bool or a number; GitHub passes its text.
    text = str(declared).lower() if isinstance(declared, bool) else str(declared)
    if not text.strip() and not action_io._has_flag(model, field, "empty_is_value"):
        assert model_default in EMPTY_MODEL_DEFAULTS, (
            f"action.yml's empty default means unset, the model's default is {model_default!r}"
        )
        return
    assert model_value_of(model, field, text) == model_default


@pytest.mark.parametrize(
    ("model", "field", "spec"),
    [
        pytest.param(model, field, spec, id=f"{action}:{name}")
        for action, name, model, field, spec in INPUTS
    ],
)
def test_an_input_is_required_in_action_yml_exactly_when_the_model_requires_it(
    model: type[ActionInputs], field: str, spec: dict[str, Any]
) -> None:
    assert bool(spec.get("required", False)) == model.model_fields[field].is_required()
