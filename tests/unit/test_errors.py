"""Where an error's docs link points: the docs of the version of the action that raised it."""

from __future__ import annotations

import pytest

from fastapi_ci.errors import DOCS_FILES, action_checkout, docs_link

ROLLOUT_DOCS = f"{DOCS_FILES['rollout']}#rollout"


@pytest.mark.parametrize(
    ("action_path", "expected"),
    [
        (
            "/home/runner/work/_actions/acme/fastapi-ci/v1/actions/rollout",
            ("acme/fastapi-ci", "v1"),
        ),
        (
            "/home/runner/work/_actions/acme/fastapi-ci/0123abcd/actions/verify",
            ("acme/fastapi-ci", "0123abcd"),
        ),
        # A branch with slashes: the ref is what lies between the repository and actions/NAME.
        (
            "/home/runner/work/_actions/acme/fastapi-ci/release/v1.2/actions/build-push",
            ("acme/fastapi-ci", "release/v1.2"),
        ),
        # A local `uses: ./actions/rollout` runs from the workspace, not _actions: no guess.
        ("/home/runner/work/orders/orders/actions/rollout", ("", "")),
        ("", ("", "")),
        # Not this library's layout (no actions/NAME at the end): no guess either.
        ("/home/runner/work/_actions/acme/other/v1", ("", "")),
    ],
)
def test_the_action_checkout_is_read_from_the_path_the_runner_put_it_at(
    action_path: str, expected: tuple[str, str]
) -> None:
    assert action_checkout(action_path) == expected


def test_in_a_composite_step_the_link_names_the_actions_repository_and_ref() -> None:
    # What the runner gives a composite action's run: step (actions/runner#2473).
    env = {
        "GITHUB_ACTION_REPOSITORY": "",
        "GITHUB_ACTION_REF": "",
        "GITHUB_ACTION_PATH": "/home/runner/work/_actions/acme/fastapi-ci/v1.4.0/actions/rollout",
        "GITHUB_SERVER_URL": "https://github.example.com",
    }
    assert docs_link("rollout#rollout", env) == (
        f"https://github.example.com/acme/fastapi-ci/blob/v1.4.0/{ROLLOUT_DOCS}"
    )


def test_named_repository_and_ref_win_over_the_path() -> None:
    env = {
        "GITHUB_ACTION_REPOSITORY": "acme/fastapi-ci",
        "GITHUB_ACTION_REF": "v2.0.0",
        "GITHUB_ACTION_PATH": "/home/runner/work/_actions/acme/fastapi-ci/v1/actions/rollout",
    }
    assert docs_link("rollout#rollout", env) == (
        f"https://github.com/acme/fastapi-ci/blob/v2.0.0/{ROLLOUT_DOCS}"
    )


def test_on_a_laptop_the_link_is_a_path_in_the_repository() -> None:
    assert docs_link("rollout#rollout", {}) == ROLLOUT_DOCS
