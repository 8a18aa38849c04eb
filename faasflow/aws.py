"""One way to make boto3 clients, for AWS, LocalStack and the emulator alike.

boto3 is imported when the first client is made, never at module import (cold starts).
With an endpoint (given, or ``AWS_ENDPOINT_URL`` in the environment) host-prefix injection
is off — boto3 would send ``StartSyncExecution`` to ``sync-127.0.0.1``, which does not
resolve — and S3 uses path-style addressing.
"""

from __future__ import annotations

import os
from typing import Any

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def aws_client(
    service: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    dummy_credentials: bool = False,
    *,
    lean: bool = False,
    **config: Any,
) -> Any:
    """A boto3 client for ``service``; ``config`` adds botocore ``Config`` options.

    ``dummy_credentials`` is for an emulator, which accepts any; without it the usual
    credential chain applies (a Lambda function's role, a profile, the environment).
    ``lean``: a plain botocore client, the same API less what boto3 adds (S3's
    ``upload_file`` and the like), made without importing boto3, which costs a cold start
    60-75 ms more: for the request path (a shard's S3 storage), not for users' clients.
    """
    from faasflow.extras import needs

    with needs(f"an AWS {service} client", "aws", ("botocore",) if lean else None):
        if lean:
            import botocore.session
        else:
            import boto3
        from botocore.config import Config

    endpoint = (
        endpoint_url
        or os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )
    options: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 5}}
    if endpoint:
        options["inject_host_prefix"] = False
        options["s3"] = {"addressing_style": "path"}
    options.update(config)
    credentials = (
        {
            "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        if dummy_credentials
        else {}
    )
    if lean:
        return botocore.session.Session().create_client(
            service, region_name=region, endpoint_url=endpoint, config=Config(**options), **credentials)
    session = boto3.session.Session(region_name=region, **credentials)
    return session.client(service, endpoint_url=endpoint, config=Config(**options))
