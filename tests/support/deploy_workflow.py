"""A service repository's workflow calling deploy.yml, as the end-to-end deploy runs under act
write it."""

from __future__ import annotations

from tests.support.components import Registry


def deploy_caller(
    target: str,
    service: str,
    service_url: str,
    registry: Registry,
    base_image: str,
    *,
    namespace: str | None = None,
) -> str:
    """A service repository's workflow calling deploy.yml (kubernetes: a kubeconfig secret)."""
    with_namespace = f"\n      namespace: {namespace}" if namespace else ""
    kubeconfig = "\n      kubeconfig: ${{ secrets.KUBECONFIG }}" if target == "kubernetes" else ""
    return f"""\
on: push
jobs:
  ship:
    uses: fastapi-ci/fastapi-ci/.github/workflows/deploy.yml@main
    with:
      target: {target}
      app: app.main:app
      image: {registry.host}/fastapi-ci-e2e/{service}
      service: {service}{with_namespace}
      service-url: {service_url}
      environment: e2e
      build-args: BASE_IMAGE={base_image}
      registry-username: {registry.username}
      install-command: >-
        uv venv --quiet --python python3 .venv
        && uv pip sync --quiet --python .venv/bin/python requirements-dev.txt
      timeout: 240
      # verify: a short window (the default is 60 s), enough answers to compare.
      verify-window: 12
      verify-rate: 30
    secrets:
      registry-password: ${{{{ secrets.REGISTRY_PASSWORD }}}}
      database-url: ${{{{ secrets.DATABASE_URL }}}}{kubeconfig}
  report:
    needs: ship
    runs-on: ubuntu-latest
    steps:
      - env:
          DEPLOYED: ${{{{ needs.ship.outputs.deployed }}}}
          IMAGE: ${{{{ needs.ship.outputs.image }}}}
        run: echo "outputs deployed=$DEPLOYED image=$IMAGE"
"""
