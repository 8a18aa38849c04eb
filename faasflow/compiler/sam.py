"""Deployment -> AWS SAM template: one generator over the model, one renderer per resource.

Every choice was made in ``faasflow.compiler.decide``; here each model value becomes its
resources, exactly once, in a fixed order (bucket, layers, functions, GPU endpoints, the
Express machine, the API and its gateway function, batch ingest). Built as plain data
(long-form intrinsics, no YAML tags), so it is easy to test and to write out as YAML.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from faasflow import codec
from faasflow.compiler import endpoints, monitoring
from faasflow.compiler.intrinsics import Sub, get_att, ref, sub
from faasflow.compiler.model import (
    BatchIngest,
    Bucket,
    Deployment,
    Gateway,
    GpuEndpoint,
    ImageFunction,
    Layer,
    StateMachine,
    ZipFunction,
)
from faasflow.rollout import ALIAS, Rollout
from faasflow.wire import IDEMPOTENCY_TABLE_ENV

Resource = dict[str, Any]
Statement = dict[str, Any]
FUNCTION = "AWS::Serverless::Function"
ARCHITECTURE = "x86_64"
POLICY_VERSION = "2012-10-17"
TRAFFIC_CONFIG_ID = "TrafficShiftConfig"


# --- IAM ---


def s3_objects(bucket: Bucket, prefix: str) -> Sub:
    return sub(f"arn:${{AWS::Partition}}:s3:::{bucket.name}/{prefix}*")


def executor_statements(bucket: Bucket, state_prefix: str) -> list[Statement]:
    """Its own state prefix and the payloads, nothing else."""
    return [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [s3_objects(bucket, state_prefix)],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": sub(f"arn:${{AWS::Partition}}:s3:::{bucket.name}"),
            "Condition": {"StringLike": {"s3:prefix": [f"{state_prefix}*"]}},
        },
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": [s3_objects(bucket, "payloads/")]},
    ]


def invoke_functions(functions: Iterable[str], versions: bool = False) -> Statement:
    """``versions``: its versions and aliases too (``<arn>:<qualifier>``), as a rollout's machine invokes them."""
    resources: list[Any] = []
    for function in functions:
        resources.append(get_att(function, "Arn"))
        if versions:
            resources.append(sub(f"${{{function}.Arn}}:*"))
    return {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": resources}


def invoke_endpoints(endpoint_ids: tuple[str, ...]) -> Statement:
    """What a state machine may call: these endpoints (``Ref`` of an endpoint is its ARN)."""
    return {"Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint"], "Resource": [ref(e) for e in endpoint_ids]}


# --- resources, one renderer per model class ---


def _runtime(deployment: Deployment) -> dict[str, str]:
    """A zip function's own Runtime, when Globals cannot hold it (an image function must have none)."""
    return {"Runtime": deployment.runtime} if deployment.has_images else {}


def render_bucket(bucket: Bucket) -> dict[str, Resource]:
    """The bucket and its policy: private, encrypted at rest, TLS only."""
    properties: Resource = {
        "BucketName": sub(bucket.name),
        "LifecycleConfiguration": {
            "Rules": [
                {
                    "Id": "ExpirePayloads",
                    "Prefix": "payloads/",
                    "Status": "Enabled",
                    "ExpirationInDays": bucket.payload_days,
                }
            ]
        },
    }
    if bucket.block_public_access:
        properties["PublicAccessBlockConfiguration"] = {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    properties["BucketEncryption"] = {
        "ServerSideEncryptionConfiguration": [
            {
                "ServerSideEncryptionByDefault": {"SSEAlgorithm": bucket.encryption},
                "BucketKeyEnabled": bucket.bucket_key,
            }
        ]
    }
    rendered = {bucket.logical_id: {"Type": "AWS::S3::Bucket", "Properties": properties}}
    if bucket.tls_only:
        rendered[bucket.policy_id] = render_bucket_policy(bucket)
    return rendered


def render_bucket_policy(bucket: Bucket) -> Resource:
    """Deny every request to the bucket or its objects not made over TLS. It may Ref the bucket:
    nothing the bucket depends on refers to the policy, so this adds no cycle."""
    statement: Statement = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [get_att(bucket.logical_id, "Arn"), sub(f"${{{bucket.logical_id}.Arn}}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref(bucket.logical_id),
            "PolicyDocument": {"Version": POLICY_VERSION, "Statement": [statement]},
        },
    }


def render_layer(layer: Layer, runtime: str) -> Resource:
    resource: Resource = {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {
            "Description": layer.description,
            "ContentUri": layer.content_uri,
            "CompatibleRuntimes": [runtime],
        },
    }
    if layer.built:
        resource["Metadata"] = {"BuildMethod": runtime, "BuildArchitecture": ARCHITECTURE}
    return resource


def _published(function: ZipFunction | ImageFunction, deployment: Deployment) -> Resource:
    """With a rollout: a version per deploy behind the alias, shifted by CodeDeploy, rolled
    back when the function's errors or throttles alarm fires."""
    if deployment.rollout is None:
        return {}
    return {
        "AutoPublishAlias": ALIAS,
        "DeploymentPreference": {"Type": ref(TRAFFIC_CONFIG_ID),
                                 "Alarms": monitoring.rollback_alarms(function.logical_id)},
    }


def render_traffic_config(rollout: Rollout) -> Resource:
    """CodeDeploy's time-based canary or linear shift, as the Flow's ``deploy:`` names it."""
    if rollout.strategy == "canary":
        routing = {"Type": "TimeBasedCanary",
                   "TimeBasedCanary": {"CanaryPercentage": rollout.percent, "CanaryInterval": rollout.minutes}}
    else:
        routing = {"Type": "TimeBasedLinear",
                   "TimeBasedLinear": {"LinearPercentage": rollout.percent, "LinearInterval": rollout.minutes}}
    return {"Type": "AWS::CodeDeploy::DeploymentConfig",
            "Properties": {"ComputePlatform": "Lambda", "TrafficRoutingConfig": routing}}


def render_zip_function(function: ZipFunction, deployment: Deployment) -> Resource:
    return {
        "Type": FUNCTION,
        "Properties": {
            "Description": function.description,
            "CodeUri": function.code_uri,
            "Handler": function.handler,
            "MemorySize": function.memory,
            "Timeout": function.timeout,
            "Layers": [ref(layer) for layer in function.layers],
            "Environment": {"Variables": dict(function.environment)},
            "Policies": [{"Statement": executor_statements(deployment.bucket, function.state_prefix)}],
            **_runtime(deployment),
            **_published(function, deployment),
        },
    }


def render_image_function(function: ImageFunction, deployment: Deployment) -> Resource:
    """A Lambda image function: no code, handler, layers or runtime (the image has them)."""
    return {
        "Type": FUNCTION,
        "Properties": {
            "Description": function.description,
            "MemorySize": function.memory,
            "Timeout": function.timeout,
            "Environment": {"Variables": dict(function.environment)},
            "Policies": [{"Statement": executor_statements(deployment.bucket, function.state_prefix)}],
            "PackageType": "Image",
            **_published(function, deployment),
        },
        "Metadata": {"Dockerfile": function.dockerfile, "DockerContext": ".", "DockerTag": "latest"},
    }


def render_gpu_endpoint(endpoint: GpuEndpoint, deployment: Deployment) -> dict[str, Resource]:
    """An endpoint serving one shard: role, model, endpoint config, endpoint."""
    state = {"Statement": executor_statements(deployment.bucket, endpoint.state_prefix)}
    return {
        endpoint.role_id: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": POLICY_VERSION,
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                                   "Action": "sts:AssumeRole"}],
                },
                "Policies": [
                    {"PolicyName": "state-and-payloads", "PolicyDocument": {"Version": POLICY_VERSION, **state}},
                    {"PolicyName": "image-and-logs",
                     "PolicyDocument": {"Version": POLICY_VERSION, "Statement": endpoints.HOSTING_STATEMENTS}},
                ],
            },
        },
        endpoint.model_id: {
            "Type": "AWS::SageMaker::Model",
            "Properties": {
                "ExecutionRoleArn": get_att(endpoint.role_id, "Arn"),
                "PrimaryContainer": {
                    "Image": ref(endpoint.image_parameter),
                    "Environment": dict(endpoint.environment),
                },
            },
        },
        endpoint.config_id: {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {
                "ProductionVariants": [{
                    "VariantName": "AllTraffic",
                    "ModelName": get_att(endpoint.model_id, "ModelName"),
                    "InitialInstanceCount": 1,
                    "InstanceType": ref(endpoint.instance_type_parameter),
                    "InitialVariantWeight": 1.0,
                }],
            },
        },
        endpoint.logical_id: {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {"EndpointConfigName": get_att(endpoint.config_id, "EndpointConfigName")},
        },
    }


def render_state_machine(machine: StateMachine, deployment: Deployment) -> Resource:
    statements = [invoke_functions(machine.functions, versions=deployment.rollout is not None)]
    if machine.type == "STANDARD":  # Distributed Map: it reads the run's splits and starts its own children
        region_account = "${AWS::Region}:${AWS::AccountId}"
        arn = f"arn:${{AWS::Partition}}:states:{region_account}:stateMachine:{machine.name}"
        executions = f"arn:${{AWS::Partition}}:states:{region_account}:execution:{machine.name}"
        statements += [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [s3_objects(deployment.bucket, "runs/")]},
            {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [sub(arn)]},
            {
                "Effect": "Allow",
                "Action": ["states:DescribeExecution", "states:StopExecution"],
                "Resource": [sub(f"{executions}:*")],
            },
        ]
    if machine.endpoints:
        statements.append(invoke_endpoints(machine.endpoints))
    properties: Resource = {"Name": sub(machine.name)} if machine.name is not None else {}
    properties.update({
        "Type": machine.type,
        "DefinitionUri": machine.definition_uri,
        "DefinitionSubstitutions": dict(machine.substitutions),
    })
    if machine.tracing is not None:
        properties["Tracing"] = {"Enabled": machine.tracing}
    properties["Policies"] = [{"Statement": statements}]
    return {"Type": "AWS::Serverless::StateMachine", "Properties": properties}


def render_gateway(gateway: Gateway, deployment: Deployment) -> dict[str, Resource]:
    """The REST API, and the function that serves it by starting the Express machine."""
    # named after the stack, so that its alarms and dashboard can name it (ApiName)
    api: Resource = {"Type": "AWS::Serverless::Api",
                     "Properties": {"Name": sub("${AWS::StackName}"), "StageName": monitoring.API_STAGE}}
    if gateway.api_key:
        api["Properties"]["Auth"] = {"ApiKeyRequired": True, "UsagePlan": {"CreateUsagePlan": "PER_API"}}
    if gateway.iam:  # every route: callers sign with SigV4 and need execute-api:Invoke on it
        # InvokeRole NONE: API Gateway invokes the gateway function with its own permission,
        # not with the caller's credentials (which would need lambda:InvokeFunction as well)
        api["Properties"]["Auth"] = {"DefaultAuthorizer": "AWS_IAM", "InvokeRole": "NONE"}
    statements: list[Statement] = [
        {"Effect": "Allow", "Action": ["states:StartSyncExecution"], "Resource": [ref(gateway.machine_id)]},
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [s3_objects(deployment.bucket, "payloads/")],
        },
    ]
    idempotency: dict[str, Any] = {}
    if gateway.idempotency_table_id is not None:
        statements.append(idempotency_statement(gateway.idempotency_table_id))
        idempotency = {IDEMPOTENCY_TABLE_ENV: ref(gateway.idempotency_table_id)}
    published = deployment.rollout is not None
    if gateway.executor_functions:  # GET /status?runtime=true asks each executor shard to report itself
        statements.append(invoke_functions([f for ids in gateway.executor_functions.values() for f in ids],
                                           versions=published))
    # names, not ARNs: Lambda allows 4 KB of environment, and names are at most 64 characters; with a
    # rollout, the alias the state machines invoke, so that the containers that serve requests report
    qualifier = f":{ALIAS}" if published else ""
    names = {name: [f"${{{f}}}{qualifier}" for f in ids] for name, ids in gateway.executor_functions.items()}
    function = {
        "Type": FUNCTION,
        "Properties": {
            "Description": gateway.description,
            "CodeUri": gateway.code_uri,
            "Handler": gateway.handler,
            "MemorySize": gateway.memory,
            "Timeout": gateway.timeout,
            "Layers": [ref(layer) for layer in gateway.layers],
            "Environment": {
                "Variables": {
                    "FAASFLOW_STATE_MACHINE_ARN": ref(gateway.machine_id),
                    "FAASFLOW_GATEWAY_CONFIG": codec.dumps_text(gateway.config, sort_keys=True),
                    "FAASFLOW_EXECUTOR_FUNCTIONS": sub(codec.dumps_text(names)),
                    **idempotency,
                }
            },
            "Policies": [{"Statement": statements}],
            "Events": {
                route.name: {
                    "Type": "Api",
                    "Properties": {"RestApiId": ref(gateway.api_id), "Path": route.path, "Method": route.method},
                }
                for route in gateway.routes
            },
            **_runtime(deployment),
        },
    }
    rendered = {gateway.api_id: api, gateway.function_id: function}
    if gateway.idempotency_table_id is not None:
        rendered[gateway.idempotency_table_id] = render_idempotency_table()
    return rendered


def idempotency_statement(table_id: str) -> Statement:
    """What Powertools' DynamoDB persistence layer does to the kept answers, on that table only."""
    return {
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
        "Resource": [get_att(table_id, "Arn")],
    }


def render_idempotency_table() -> Resource:
    """The gateway's kept answers, in Powertools' layout: key ``id``, expiry ``expiration``
    (DynamoDB's TTL deletes expired records; Powertools ignores them until then)."""
    return {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
        },
    }


def render_batch(batch: BatchIngest, deployment: Deployment) -> dict[str, Resource]:
    """The batch worker, the batch machine and the ingest function the bucket notifies."""
    bucket = deployment.bucket
    worker = {
        "Type": FUNCTION,
        "Properties": {
            "Description": "faasflow batch worker: reads a split, writes the run summary",
            "CodeUri": batch.code_uri,
            "Handler": batch.handler,
            "MemorySize": batch.worker_memory,
            "Timeout": batch.worker_timeout,
            "Layers": [ref(layer) for layer in batch.layers],
            "Policies": [{
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [s3_objects(bucket, "incoming/")]},
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:PutObject"],
                        "Resource": [s3_objects(bucket, p) for p in ("payloads/", "runs/", "summaries/")],
                    },
                ]
            }],
            **_runtime(deployment),
        },
    }
    ingest = {
        "Type": FUNCTION,
        "Properties": {
            "Description": "faasflow ingest: starts one batch run per JSON-lines object put under incoming/",
            "CodeUri": batch.code_uri,
            "Handler": batch.handler,
            "MemorySize": batch.ingest_memory,
            "Timeout": batch.ingest_timeout,
            "Layers": [ref(layer) for layer in batch.layers],
            "Environment": {"Variables": {"FAASFLOW_BATCH_STATE_MACHINE_ARN": ref(batch.machine_id)}},
            "Policies": [{
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [s3_objects(bucket, "incoming/")]},
                    {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [s3_objects(bucket, "runs/")]},
                    {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [ref(batch.machine_id)]},
                ]
            }],
            "Events": {
                "Incoming": {
                    "Type": "S3",
                    "Properties": {
                        "Bucket": ref(batch.bucket_id),
                        "Events": "s3:ObjectCreated:*",
                        "Filter": {
                            "S3Key": {
                                "Rules": [
                                    {"Name": "prefix", "Value": "incoming/"},
                                    {"Name": "suffix", "Value": ".jsonl"},
                                ]
                            }
                        },
                    },
                }
            },
            **_runtime(deployment),
        },
    }
    return {
        batch.worker_id: worker,
        deployment.batch_machine.logical_id: render_state_machine(deployment.batch_machine, deployment),
        batch.ingest_id: ingest,
    }


def resources(deployment: Deployment) -> Iterator[tuple[str, Resource]]:
    """Every resource of the deployment, in template order."""
    yield from render_bucket(deployment.bucket).items()
    for layer in deployment.layers:
        yield layer.logical_id, render_layer(layer, deployment.runtime)
    for function in deployment.functions:
        if isinstance(function, ImageFunction):
            yield function.logical_id, render_image_function(function, deployment)
        else:
            yield function.logical_id, render_zip_function(function, deployment)
    if deployment.rollout is not None:
        yield TRAFFIC_CONFIG_ID, render_traffic_config(deployment.rollout)
    for endpoint in deployment.endpoints:
        yield from render_gpu_endpoint(endpoint, deployment).items()
    yield deployment.machine.logical_id, render_state_machine(deployment.machine, deployment)
    yield from render_gateway(deployment.gateway, deployment).items()
    yield from render_batch(deployment.batch, deployment).items()
    yield from monitoring.monitoring_resources(deployment)


def parameters(deployment: Deployment) -> dict[str, Any]:
    """The template parameters: the alarms' email, each GPU executor's image and instance type."""
    rendered: dict[str, Any] = {}
    if deployment.monitoring:
        rendered[monitoring.EMAIL_PARAMETER] = monitoring.email_parameter()
    for endpoint in deployment.endpoints:  # its shards share them
        executor = endpoint.executor
        rendered[endpoint.image_parameter] = {
            "Type": "String",
            "Description": f"the GPU image of executor {executor} in ECR (built from its gpu.Dockerfile)",
        }
        rendered[endpoint.instance_type_parameter] = {
            "Type": "String",
            "Default": endpoints.DEFAULT_INSTANCE_TYPE,
            "AllowedPattern": r"^ml\..+",
            "Description": f"the SageMaker instance type of executor {executor}'s endpoint(s) (a GPU instance)",
        }
    return rendered


def outputs(deployment: Deployment) -> dict[str, Any]:
    gateway, batch = deployment.gateway, deployment.batch
    rendered: dict[str, Any] = {
        "ApiUrl": {
            "Description": "The Flow's HTTP endpoint",
            "Value": sub(f"https://${{{gateway.api_id}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/Prod"),
        },
        "ApiId": {"Value": ref(gateway.api_id)},
        "StateMachineArn": {"Value": ref(deployment.machine.logical_id)},
        "BucketName": {"Value": ref(deployment.bucket.logical_id)},
        "BatchStateMachineArn": {"Value": ref(deployment.batch_machine.logical_id)},
        "IngestFunctionName": {"Value": ref(batch.ingest_id)},
        "GatewayFunctionName": {"Value": ref(gateway.function_id)},
    }
    if gateway.idempotency_table_id is not None:
        rendered["IdempotencyTableName"] = {"Value": ref(gateway.idempotency_table_id)}
    if deployment.monitoring:
        rendered["AlarmTopicArn"] = {"Description": "The SNS topic every alarm notifies",
                                     "Value": ref(monitoring.TOPIC_ID)}
        rendered["DashboardName"] = {"Value": ref(monitoring.DASHBOARD_ID)}
    for function in deployment.functions:
        rendered[f"{function.logical_id}Name"] = {"Value": ref(function.logical_id)}
    for endpoint in deployment.endpoints:
        rendered[f"{endpoint.logical_id}Name"] = {"Value": get_att(endpoint.logical_id, "EndpointName")}
    return rendered


def render_sam(deployment: Deployment) -> dict[str, Any]:
    """The SAM template of a deployment."""
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"faasflow Flow {deployment.name} (generated by `faasflow build`: edit the Flow, not this file)",
    }
    template_parameters = parameters(deployment)
    if template_parameters:
        template["Parameters"] = template_parameters
    if deployment.monitoring:
        template["Conditions"] = {monitoring.EMAIL_CONDITION: monitoring.email_condition()}
    runtime = {} if deployment.has_images else {"Runtime": deployment.runtime}
    template["Globals"] = {
        "Function": {
            **runtime,
            "Architectures": [ARCHITECTURE],
            "Tracing": "Active" if deployment.tracing else "PassThrough",
            "Environment": {"Variables": dict(deployment.environment)},
        }
    }
    template["Resources"] = dict(resources(deployment))
    template["Outputs"] = outputs(deployment)
    return template
