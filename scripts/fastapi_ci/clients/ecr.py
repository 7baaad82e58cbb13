"""AWS ECR: registry credentials from `get_authorization_token`, repositories on demand.

The token is `base64("AWS:<password>")`, valid for 12 hours, for the registry named in
`proxyEndpoint`. The endpoint can be redirected (`AWS_ENDPOINT_URL` or an explicit URL),
which is how the tests run against moto's server.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from fastapi_ci.clients.registry import RegistryCredentials
from fastapi_ci.errors import CheckFailed
from fastapi_ci.retry import RetryPolicy, TransientError, retry_call

# 123456789012.dkr.ecr.eu-west-1.amazonaws.com (also .amazonaws.com.cn)
ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
)
_TRANSIENT_CODES = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "ServerException",
    "RequestTimeout",
    "InternalFailure",
    "ServiceUnavailable",
}


def region_of(registry: str) -> str | None:
    """The AWS region in an ECR registry host, if it is one."""
    match = ECR_HOST.match(registry)
    return match.group("region") if match else None


@dataclass(frozen=True)
class EcrLogin:
    """Credentials for one ECR registry."""

    credentials: RegistryCredentials
    registry: str
    expires_at: str


class Ecr:
    """An ECR client for one region (and optionally another endpoint)."""

    def __init__(
        self,
        region: str,
        env: Mapping[str, str],
        endpoint_url: str | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        # NOTE: imported here: boto3 costs ~0.3 s at start-up, paid only by ECR users.
        import boto3

        # Credentials come from the usual chain (OIDC role, env, profile) of the given env.
        session = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
            region_name=region,
        )
        self.client: Any = session.client(
            "ecr", endpoint_url=endpoint_url or env.get("AWS_ENDPOINT_URL") or None
        )
        self.region = region
        self.policy = policy or RetryPolicy()

    def _call(self, what: str, method: str, **kwargs: Any) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            import botocore.exceptions  # lazy: only build-push to ECR needs boto

            try:
                answer: dict[str, Any] = getattr(self.client, method)(**kwargs)
                return answer
            except botocore.exceptions.ClientError as error:
                if error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES:
                    raise TransientError(str(error)) from error
                raise
            except (
                botocore.exceptions.EndpointConnectionError,
                botocore.exceptions.ConnectTimeoutError,
                botocore.exceptions.ReadTimeoutError,
            ) as error:
                raise TransientError(str(error)) from error

        return retry_call(attempt, what=what, policy=self.policy)

    def login(self) -> EcrLogin:
        """Registry credentials from `get_authorization_token` (the password is a SecretStr)."""
        import botocore.exceptions  # lazy: only build-push to ECR needs boto

        try:
            answer = self._call("ECR get-authorization-token", "get_authorization_token")
        except (botocore.exceptions.ClientError, botocore.exceptions.NoCredentialsError) as error:
            raise CheckFailed(
                f"ECR refused an authorization token: {error}",
                why="the job's AWS identity cannot call ecr:GetAuthorizationToken",
                fix="configure AWS credentials first (aws-actions/configure-aws-credentials "
                "with an OIDC role) and allow ecr:GetAuthorizationToken",
                docs="build-push#permissions",
            ) from None
        data = answer["authorizationData"][0]
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        registry = re.sub(r"^https?://", "", data["proxyEndpoint"]).rstrip("/")
        return EcrLogin(
            credentials=RegistryCredentials(
                registry=registry, username=username, password=SecretStr(password)
            ),
            registry=registry,
            expires_at=str(data.get("expiresAt", "")),
        )

    def repository_exists(self, name: str) -> bool:
        """True when the repository exists (describe_repositories)."""
        import botocore.exceptions  # lazy: only build-push to ECR needs boto

        try:
            self._call(
                f"ECR describe-repositories {name}", "describe_repositories", repositoryNames=[name]
            )
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
                return False
            raise CheckFailed(
                f"ECR describe-repositories {name} failed: {error}",
                fix="allow the job's AWS role ecr:DescribeRepositories",
                docs="build-push#permissions",
            ) from None
        return True

    def ensure_repository(self, name: str, create: bool) -> bool:
        """Make sure `name` exists; create it (scan on push, immutable tags off) if allowed.

        Returns True when it was created. Without `create`, a missing repository fails now,
        before the build, rather than at the end of the push.
        """
        import botocore.exceptions  # lazy: only build-push to ECR needs boto

        if self.repository_exists(name):
            return False
        if not create:
            raise CheckFailed(
                f"ECR repository {name!r} does not exist in {self.region}",
                fix="create it (Terraform, `aws ecr create-repository`), or set "
                "ecr-create-repository: true",
                why="a missing repository would otherwise fail the push after the whole build",
                docs="build-push#inputs-and-outputs",
            )
        try:
            self._call(
                f"ECR create-repository {name}",
                "create_repository",
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
            )
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") == "RepositoryAlreadyExistsException":
                return False  # a concurrent job won the race: fine
            raise CheckFailed(
                f"ECR create-repository {name} failed: {error}",
                fix="allow the job's AWS role ecr:CreateRepository, or create the repository first",
                docs="build-push#permissions",
            ) from None
        return True
