"""pytest-localstack's session object over whichever emulator the session uses.

pytest-localstack users know ``session.boto3.client('s3')`` and
``session.botocore.patch_botocore()``. Its ``RunningSession`` attaches to a running
endpoint (every service on one edge port), so the plugin gives them that over MiniStack,
with no Docker. Only the services whose pytest-localstack check passes against the
endpoint are mapped (MiniStack 1.5.33 answers all but ``es`` and ``redshift``; another
endpoint is probed): a session that listed one it does not answer would wait out its start
timeout on it.

With ``--faasflow-localstack-docker`` a real LocalStack runs instead, in a container
started by pytest-localstack's own ``LocalstackSession``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

AUTH_TOKEN_ENV = "LOCALSTACK_AUTH_TOKEN"
# pytest-localstack's services whose checks MiniStack (the version faasflow.deploy.tools pins,
# 1.5.33) passes: all but ``es`` and ``redshift``. Known, so a session on MiniStack does not
# spend seconds probing the two it lacks (redshift's check takes 3 s to fail).
MINISTACK_SERVICES = frozenset({
    "apigateway", "cloudformation", "cloudwatch", "dynamodb", "dynamodbstreams", "ec2", "events", "firehose", "iam",
    "kinesis", "lambda", "logs", "route53", "s3", "secretsmanager", "ses", "sns", "sqs", "ssm", "stepfunctions", "sts",
})
# The last community image: later LocalStack images are one image that needs an auth token.
LAST_FREE_VERSION = (4, 14)


class LocalStackUnavailable(RuntimeError):
    """A LocalStack container cannot be started here; the message says why."""


def answering_services(session: Any) -> dict[str, int]:
    """The services of ``session`` whose pytest-localstack check passes right now."""
    from pytest_localstack import exceptions, service_checks

    answering = {}
    for name, port in session.services.items():
        try:
            service_checks.SERVICE_CHECKS[name](session)
        except exceptions.ServiceError:
            continue
        answering[name] = port
    return answering


def attach(endpoint_url: str, region: str, services: frozenset[str] | None = None, timeout_s: float = 60.0) -> Any:
    """A started ``RunningSession`` on ``endpoint_url``, with ``services`` (those known to
    answer there), else with the services found answering."""
    from pytest_localstack.constants import SERVICE_PORTS
    from pytest_localstack.session import RunningSession

    parts = urlsplit(endpoint_url)
    if not parts.hostname or not parts.port:
        raise ValueError(f"pytest-localstack needs an endpoint with host and port, got {endpoint_url!r}")
    port = parts.port
    names = SERVICE_PORTS if services is None else sorted(services & set(SERVICE_PORTS))
    session = RunningSession(parts.hostname, services={name: port for name in names},
                             region_name=region, use_ssl=parts.scheme == "https")
    if services is None:
        session.services = answering_services(session)
    if not session.services:
        raise LocalStackUnavailable(f"no AWS service answers at {endpoint_url}")
    session.start(timeout=timeout_s)
    return session


def needs_auth_token(version: str) -> bool:
    """LocalStack images after 4.14 (from 2026.03.0 on, and ``latest``) need an auth token."""
    try:
        numbers = tuple(int(part) for part in version.lstrip("v").split("."))
    except ValueError:
        return True  # 'latest', 'stable': the current image
    return numbers[:2] > LAST_FREE_VERSION


def default_version() -> str:
    from pytest_localstack.constants import DEFAULT_LOCALSTACK_VERSION

    return str(DEFAULT_LOCALSTACK_VERSION)


def docker_client() -> Any:
    """A Docker client that has answered a ping, or LocalStackUnavailable saying why not."""
    import docker
    import docker.errors

    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        raise LocalStackUnavailable(f"Docker is not reachable ({exc})") from exc
    return client


def start_container(version: str | None, region: str, start_timeout_s: float = 60.0, client: Any = None,
                    environ: dict[str, str] | None = None) -> Any:
    """Start LocalStack ``version`` with pytest-localstack's ``LocalstackSession``; every
    reason it cannot start here is named in one LocalStackUnavailable."""
    from pytest_localstack.session import LocalstackSession

    env = os.environ if environ is None else environ
    version = version or default_version()
    token = env.get(AUTH_TOKEN_ENV)
    reasons = []
    if needs_auth_token(version) and not token:
        reasons.append(f"LocalStack {version} needs {AUTH_TOKEN_ENV} (images after 4.14 require an auth token; "
                       "4.14 and earlier community images do not), and it is not set")
    if client is None:
        try:
            client = docker_client()
        except LocalStackUnavailable as exc:
            reasons.append(str(exc))
    if reasons:
        raise LocalStackUnavailable("--faasflow-localstack-docker cannot start LocalStack: " + "; ".join(reasons))
    session = LocalstackSession(client, region_name=region, localstack_version=version,
                                container_env={AUTH_TOKEN_ENV: token} if token else {})
    session.start(timeout=start_timeout_s)
    return session


def container_endpoint(session: Any) -> str:
    """The host URL of a started container's edge port."""
    return str(session.endpoint_url("s3"))
