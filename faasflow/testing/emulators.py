"""What ``faasflow_emulator`` gives a test: one object per place the tests deploy to.

MiniStack started for the session (``ministack``), an emulator someone else runs
(``endpoint``), a LocalStack container started through pytest-localstack (``localstack``)
or real AWS (``aws``). All answer the same few questions (endpoint, region, a boto3 client,
the environment for an SDK or ``sam``), so ``deployed_flow`` and the tests need not care
which. Only the MiniStack this session started can be reset: the others hold what someone
else may rely on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faasflow.aws import DUMMY_CREDENTIALS
from faasflow.testing.settings import KIND_AWS, KIND_ENDPOINT, KIND_LOCALSTACK, KIND_MINISTACK

if TYPE_CHECKING:
    from faasflow.testing.ministack import MiniStack


class ResetUnsupported(RuntimeError):
    """``reset()`` of something this session did not start, or of real AWS."""


class Emulator:
    """Where the session's tests deploy to; ``generation`` counts resets, so a deployment
    made before one knows its stack may be gone."""

    kind: str = ""

    def __init__(self, endpoint_url: str | None, region: str) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.generation = 0
        self.localstack_session: Any = None  # a pytest-localstack session that owns the endpoint, if any

    @property
    def resettable(self) -> bool:
        return False

    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client for ``service`` bound to this target (``config``: botocore options)."""
        from faasflow.aws import aws_client

        options: dict[str, Any] = {"read_timeout": 300, "connect_timeout": 5, **config}
        return aws_client(service, self.endpoint_url, self.region, dummy_credentials=True, **options)

    def environ(self) -> dict[str, str]:
        """Variables that point an AWS SDK or CLI (``sam``) at this target."""
        assert self.endpoint_url is not None
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": self.region, **DUMMY_CREDENTIALS}

    def api_url(self, api_id: str, stage: str = "Prod") -> str:
        """Base URL of a deployed REST API, in the path form that needs no DNS."""
        assert self.endpoint_url is not None
        return f"{self.endpoint_url.rstrip('/')}/_aws/execute-api/{api_id}/{stage}"

    def reset(self) -> None:
        raise ResetUnsupported(
            f"the {self.kind} emulator at {self.endpoint_url} was not started by this session, so it is "
            "not reset: what it holds may be someone else's. Give tests resources of their own names instead."
        )

    def close(self) -> None:
        """Release what this session started (nothing, unless a subclass started something)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.endpoint_url or self.region}>"


class MiniStackEmulator(Emulator):
    """The MiniStack this session started: reset between test modules, stopped at the end."""

    kind = KIND_MINISTACK

    def __init__(self, ministack: MiniStack) -> None:
        super().__init__(ministack.endpoint, ministack.region)
        self.ministack = ministack

    @property
    def resettable(self) -> bool:
        return True

    @property
    def runtime(self) -> str:
        """The Lambda runtime the emulator runs handlers on (its own Python)."""
        return self.ministack.runtime

    def client(self, service: str, **config: Any) -> Any:
        return self.ministack.client(service, **config)

    def environ(self) -> dict[str, str]:
        return self.ministack.environ()

    def reset(self) -> None:
        """Drop every emulated resource; deployments made before redeploy when next used."""
        self.ministack.reset()
        self.generation += 1

    def close(self) -> None:
        self.ministack.stop()


class EndpointEmulator(Emulator):
    """A LocalStack-compatible emulator running elsewhere (``--faasflow-endpoint``)."""

    kind = KIND_ENDPOINT


class LocalStackContainer(Emulator):
    """LocalStack in a container that pytest-localstack started for this session."""

    kind = KIND_LOCALSTACK

    def __init__(self, session: Any, endpoint_url: str, region: str) -> None:
        super().__init__(endpoint_url, region)
        self.localstack_session = session

    def close(self) -> None:
        self.localstack_session.stop()


class RealAws(Emulator):
    """Real AWS with the ambient credentials (``--faasflow-aws``): no endpoint, no reset."""

    kind = KIND_AWS

    def __init__(self, region: str) -> None:
        super().__init__(None, region)

    def client(self, service: str, **config: Any) -> Any:
        from faasflow.aws import aws_client

        return aws_client(service, None, self.region, **config)

    def environ(self) -> dict[str, str]:
        return {"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}

    def api_url(self, api_id: str, stage: str = "Prod") -> str:
        return f"https://{api_id}.execute-api.{self.region}.amazonaws.com/{stage}"

    def reset(self) -> None:
        raise ResetUnsupported("reset() is not offered on real AWS: the stacks the session deployed are deleted "
                               "when it ends; anything else in the account is not the tests' to drop")
