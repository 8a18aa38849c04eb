"""GPU stages on SageMaker endpoints: their names and their state machine calls.

Lambda has no GPU, so an executor with ``gpu=True`` runs its GPU image
(``faasflow.compiler.images``) on a SageMaker real-time endpoint, one per shard, with
the instance type a template parameter. The state machine calls it with the AWS SDK
integration ``sagemakerruntime:invokeEndpoint``: a Pass state builds the same event a
Lambda stage gets, the Task sends it as the JSON body, and the endpoint answers the same
envelope (``faasflow.runtime.sagemaker`` runs the same ``ShardRuntime``). The names live
here because the template (``faasflow.compiler.decide`` names the resources,
``faasflow.compiler.sam`` renders them) and the state machine must agree on them.
"""

from __future__ import annotations

from typing import Any

from faasflow.compiler.intrinsics import sub
from faasflow.compiler.naming import camel
from faasflow.plan import ExecutorSpec

INVOKE_ENDPOINT = "arn:aws:states:::aws-sdk:sagemakerruntime:invokeEndpoint"
DEFAULT_INSTANCE_TYPE = "ml.g5.xlarge"  # one NVIDIA A10G
SAGEMAKER_RETRY = {
    "ErrorEquals": [
        "SageMakerRuntime.ServiceUnavailableException",
        "SageMakerRuntime.InternalFailureException",
        "SageMakerRuntime.InternalDependencyException",
        "SageMakerRuntime.ThrottlingException",
    ],
    "IntervalSeconds": 1,
    "MaxAttempts": 3,
    "BackoffRate": 2.0,
    "JitterStrategy": "FULL",
}


# What SageMaker needs to run any container: pull it from ECR, write its logs and metrics.
HOSTING_STATEMENTS: list[dict[str, Any]] = [
    {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
    {
        "Effect": "Allow",
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        "Resource": sub("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*"),
    },
    {
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/sagemaker/*"),
    },
    {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
     "Condition": {"StringEquals": {"cloudwatch:namespace": "faasflow"}}},
]


def endpoint_id(executor: str, shard: int, shards: int) -> str:
    """The logical id of one executor shard's endpoint: ``EncoderShard1Endpoint``."""
    return f"{camel(executor)}{f'Shard{shard}' if shards > 1 else ''}Endpoint"


def endpoint_part_ids(executor: str, shard: int, shards: int) -> tuple[str, str, str]:
    """The logical ids of what an endpoint is made of: its role, model and endpoint config."""
    base = endpoint_id(executor, shard, shards).removesuffix("Endpoint")
    return f"{base}EndpointRole", f"{base}Model", f"{base}EndpointConfig"


def instance_type_parameter(executor: str) -> str:
    return f"{camel(executor)}GpuInstanceType"


def image_uri_parameter(executor: str) -> str:
    return f"{camel(executor)}GpuImageUri"


def endpoint_name_substitution(executor: str, shard: int, shards: int) -> str:
    return f"{endpoint_id(executor, shard, shards)}Name"


# --- the state machine ---


def endpoint_branch(task_name: str, payload: dict[str, Any], spec: ExecutorSpec, shard: int,
                    crashed: dict[str, Any]) -> dict[str, Any]:
    """One shard's branch of a GPU stage: build the event, invoke the endpoint with it.

    The event lives only inside the branch (the Parallel state keeps the branch's output,
    the envelope), so the run's state holds the stage's documents once, as for Lambda.
    """
    invoke = f"{task_name} invoke"
    name = endpoint_name_substitution(spec.name, shard, spec.shards)
    return {
        "StartAt": task_name,
        "States": {
            task_name: {"Type": "Pass", "Parameters": {"request.$": "$.request", "event": payload}, "Next": invoke},
            invoke: {
                "Type": "Task",
                "Resource": INVOKE_ENDPOINT,
                "Parameters": {
                    "EndpointName": f"${{{name}}}",
                    "ContentType": "application/json",
                    "Accept": "application/json",
                    "Body.$": "States.JsonToString($.event)",
                },
                "ResultSelector": {"value.$": "States.StringToJson($.Body)"},
                "OutputPath": "$.value",
                "Retry": [SAGEMAKER_RETRY],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": f"{task_name} crashed"}],
                "End": True,
            },
            f"{task_name} crashed": crashed,
        },
    }
