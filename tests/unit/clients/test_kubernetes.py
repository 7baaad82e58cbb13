"""The Kubernetes client's connection: what the user is told when there are no credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastapi_ci.clients.kubernetes import KubernetesApis
from fastapi_ci.errors import CheckFailed


def test_missing_credentials_say_why_and_link_the_docs(tmp_path: Path) -> None:
    with pytest.raises(CheckFailed) as failed:
        KubernetesApis.from_kubeconfig(context="ci", kubeconfig=str(tmp_path / "no-kubeconfig"))
    diagnostics = failed.value.diagnostics({})
    assert failed.value.message.startswith("no Kubernetes credentials")
    assert "Why: the job talks to the cluster's API with its own credentials" in diagnostics
    assert "(docs/actions/rollout.md#permissions)" in diagnostics
