"""Signing requests to a Flow deployed with ``auth: iam``: API Gateway then checks a SigV4
signature (service ``execute-api``) made with the caller's AWS credentials, found the way
boto3 finds them (environment, profile, SSO, instance or function role).

boto3 is imported when a signing Client is made, never with the Client itself; without
it (the aws extra) that Client names the extra to install.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

from faasflow.errors import FaasflowError
from faasflow.extras import CLIENT_MODULES, needs

with needs("the HTTP Client", "serve", CLIENT_MODULES):
    import httpx

SERVICE = "execute-api"
IAM_FEATURE = "Client(auth='iam')"
AUTH_MODES = ("iam",)
# https://{api-id}.execute-api.{region}.amazonaws.com[.cn]/{stage}
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


def check_auth(auth: str | None) -> None:
    """Refuse an auth mode the Client cannot speak, naming the argument."""
    if auth is not None and auth not in AUTH_MODES:
        raise FaasflowError(f"Client(auth=...) must be 'iam' or None (an API key goes in api_key=), got {auth!r}")


def region_of(url: str, given: str | None = None) -> str:
    """The region to sign for: ``given``, else the one in an execute-api host name, else the
    default region of the AWS configuration."""
    if given:
        return given
    found = _EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    if found:
        return found.group(1)
    region = _boto3().session.Session().region_name
    if not region:
        raise FaasflowError(f"auth='iam': cannot tell the region of {url}; pass aws_region= or set AWS_REGION")
    return str(region)


def _boto3() -> Any:
    """boto3, which finds the caller's credentials and region the way the AWS CLI does."""
    with needs(IAM_FEATURE, "aws"):
        import boto3
    return boto3


class SigV4(httpx.Auth):
    """httpx auth that signs every request for ``execute-api`` in ``region`` (the body too)."""

    requires_request_body = True

    def __init__(self, region: str, credentials: Any = None, service: str = SERVICE):
        if credentials is None:
            credentials = _boto3().session.Session().get_credentials()
            if credentials is None:
                raise FaasflowError("auth='iam': no AWS credentials found (environment, profile, SSO or role); "
                                    "configure them as for the AWS CLI")
        self.region = region
        self.service = service
        self.credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        frozen = self.credentials.get_frozen_credentials() if hasattr(self.credentials, "get_frozen_credentials") \
            else self.credentials  # a role's credentials are refreshed when they near expiry
        signed = AWSRequest(method=request.method, url=str(request.url), data=request.content,
                            headers={"host": request.url.netloc.decode("ascii")})
        SigV4Auth(frozen, self.service, self.region).add_auth(signed)
        for name, value in signed.headers.items():
            if name.lower() != "host":
                request.headers[name] = value
        yield request
