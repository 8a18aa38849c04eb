"""Plan -> AWS SAM template: one function per executor shard, the layers, the Express
state machine, the gateway function behind API Gateway, the bucket, least-privilege IAM.

Built as plain data (long-form intrinsics, no YAML tags), so it is easy to test and to
write out as YAML; ``faasflow build`` writes it, ``sam build``/``sam deploy`` act on it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from faasflow import codec
from faasflow.compiler.asl import gateway_inline_limit
from faasflow.compiler.images import finish_template, place_images
from faasflow.compiler.layout import FAASFLOW_LAYER_DIR, LAYER_ONLY_CODE_DIR, batch_asl_file_name, code_location
from faasflow.compiler.naming import camel, function_id
from faasflow.compiler.routes import OTHER_ENDPOINTS, plan_routes
from faasflow.errors import FlowConfigError
from faasflow.plan import ExecutorSpec, Plan
from faasflow.wire import GatewayConfig

RUNTIME = "python3.11"
DEFAULT_MEMORY = 512
DEFAULT_TIMEOUT = 30
GATEWAY_TIMEOUT = 29  # API Gateway's integration timeout
PAYLOAD_DAYS = 1
# The bucket is named, not referenced: the batch ingest function is both notified by the
# bucket and allowed into it, and a Ref both ways would be a dependency cycle. Stack names
# must be lower case (bucket names are).
BUCKET_NAME = "${AWS::StackName}-${AWS::AccountId}-${AWS::Region}"
BATCH_MACHINE_NAME = "${AWS::StackName}-batch"


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _s3_objects(prefix: str) -> dict[str, str]:
    return _sub(f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME}/{prefix}*")


def _executor_policy(spec: ExecutorSpec, shard: int) -> dict[str, Any]:
    """Its own state prefix and the payloads, nothing else."""
    state = f"state/{spec.name}/{shard}/"
    return {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [_s3_objects(state)],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": _sub(f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME}"),
                "Condition": {"StringLike": {"s3:prefix": [f"{state}*"]}},
            },
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": [_s3_objects("payloads/")]},
        ]
    }


def batch_resources(plan: Plan, substitutions: dict[str, Any], function_ids: list[str]) -> dict[str, Any]:
    """S3 ``incoming/*.jsonl`` -> the ingest function -> the Standard batch state machine,
    whose Distributed Map children read splits (the batch worker) and run /index."""
    worker_policy = {
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [_s3_objects("incoming/")]},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [_s3_objects("payloads/"), _s3_objects("runs/"), _s3_objects("summaries/")],
            },
        ]
    }
    machine_arn = (
        f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{BATCH_MACHINE_NAME}"
    )
    executions = f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:{BATCH_MACHINE_NAME}"
    return {
        "BatchWorkerFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Description": "faasflow batch worker: reads a split, writes the run summary",
                "CodeUri": f"{LAYER_ONLY_CODE_DIR}/",
                "Handler": "faasflow.runtime.ingest.handler",
                "MemorySize": 512,
                "Timeout": 300,
                "Layers": [{"Ref": "RuntimeLayer"}, {"Ref": "FaasflowLayer"}],
                "Policies": [worker_policy],
            },
        },
        "BatchStateMachine": {
            "Type": "AWS::Serverless::StateMachine",
            "Properties": {
                "Name": _sub(BATCH_MACHINE_NAME),
                "Type": "STANDARD",
                "DefinitionUri": batch_asl_file_name(plan.name),
                "DefinitionSubstitutions": {
                    **substitutions,
                    "BatchWorkerFunctionArn": {"Fn::GetAtt": ["BatchWorkerFunction", "Arn"]},
                },
                "Policies": [
                    {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["lambda:InvokeFunction"],
                                "Resource": [
                                    {"Fn::GetAtt": [f, "Arn"]} for f in [*function_ids, "BatchWorkerFunction"]
                                ],
                            },
                            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [_s3_objects("runs/")]},
                            {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [_sub(machine_arn)]},
                            {
                                "Effect": "Allow",
                                "Action": ["states:DescribeExecution", "states:StopExecution"],
                                "Resource": [_sub(f"{executions}:*")],
                            },
                        ]
                    }
                ],
            },
        },
        "IngestFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Description": "faasflow ingest: starts one batch run per JSON-lines object put under incoming/",
                "CodeUri": f"{LAYER_ONLY_CODE_DIR}/",
                "Handler": "faasflow.runtime.ingest.handler",
                "MemorySize": 256,
                "Timeout": 60,
                "Layers": [{"Ref": "RuntimeLayer"}, {"Ref": "FaasflowLayer"}],
                "Environment": {"Variables": {"FAASFLOW_BATCH_STATE_MACHINE_ARN": {"Ref": "BatchStateMachine"}}},
                "Policies": [
                    {
                        "Statement": [
                            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [_s3_objects("incoming/")]},
                            {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [_s3_objects("runs/")]},
                            {
                                "Effect": "Allow",
                                "Action": ["states:StartExecution"],
                                "Resource": [{"Ref": "BatchStateMachine"}],
                            },
                        ]
                    }
                ],
                "Events": {
                    "Incoming": {
                        "Type": "S3",
                        "Properties": {
                            "Bucket": {"Ref": "FlowBucket"},
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
            },
        },
    }


def gateway_config(plan: Plan) -> GatewayConfig:
    """What the gateway function knows of the Flow (no executor code is imported there)."""
    from faasflow.topology import describe

    described = describe(plan)
    return {
        "name": plan.name,
        "endpoints": plan.served_endpoints,
        "any_endpoint": any(r.key == OTHER_ENDPOINTS for r in plan_routes(plan)),
        "executors": described["executors"],
        "answer": described["answer"],
        "inline_limit": gateway_inline_limit(plan),
    }


def compile_template(plan: Plan, project: Path, asl_path: str) -> dict[str, Any]:
    """The SAM template for a Plan; ``asl_path`` is the state machine file, relative to it."""
    auth, tracing = plan.auth, plan.tracing
    resources: dict[str, Any] = {
        "FlowBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": _sub(BUCKET_NAME),
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "ExpirePayloads",
                            "Prefix": "payloads/",
                            "Status": "Enabled",
                            "ExpirationInDays": PAYLOAD_DAYS,
                        }
                    ]
                },
            },
        },
        "RuntimeLayer": {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "Description": "numpy, orjson, PyYAML: what executors need at run time",
                "ContentUri": "layers/runtime/",
                "CompatibleRuntimes": [RUNTIME],
            },
            "Metadata": {"BuildMethod": RUNTIME, "BuildArchitecture": "x86_64"},
        },
        "FaasflowLayer": {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "Description": "the faasflow package (staged by faasflow build)",
                "ContentUri": f"{FAASFLOW_LAYER_DIR}/",
                "CompatibleRuntimes": [RUNTIME],
            },
        },
        "GatewayLayer": {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "Description": "FastAPI and Mangum: the gateway function only",
                "ContentUri": "layers/gateway/",
                "CompatibleRuntimes": [RUNTIME],
            },
            "Metadata": {"BuildMethod": RUNTIME, "BuildArchitecture": "x86_64"},
        },
    }
    substitutions: dict[str, Any] = {}
    function_ids: list[str] = []
    for spec in plan.executors:
        location = code_location(spec, project)
        for shard in range(spec.shards):
            logical_id = function_id(spec.name, shard, spec.shards)
            function_ids.append(logical_id)
            substitutions[f"{logical_id}Arn"] = {"Fn::GetAtt": [logical_id, "Arn"]}
            resources[logical_id] = {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Description": f"faasflow executor {spec.name}" + (f" shard {shard}" if spec.shards > 1 else ""),
                    "CodeUri": location.code_uri,
                    "Handler": "faasflow.runtime.handler.handle",
                    "MemorySize": spec.memory or DEFAULT_MEMORY,
                    "Timeout": spec.timeout or DEFAULT_TIMEOUT,
                    "Layers": [{"Ref": "RuntimeLayer"}, {"Ref": "FaasflowLayer"}],
                    "Environment": {
                        "Variables": {
                            "FAASFLOW_EXECUTOR": spec.name,
                            "FAASFLOW_USES": location.uses,
                            "FAASFLOW_USES_WITH": codec.dumps_text(dict(spec.uses_with), sort_keys=True),
                            "FAASFLOW_SHARD": str(shard),
                            "FAASFLOW_SHARDS": str(spec.shards),
                            "FAASFLOW_NEEDS": codec.dumps_text(list(spec.needs)),
                            "FAASFLOW_STORAGE_URL": _sub(f"s3://{BUCKET_NAME}/state/"),
                        }
                    },
                    "Policies": [_executor_policy(spec, shard)],
                },
            }
    image_parameters = place_images(plan, resources, substitutions, function_ids)  # package='image', gpu=True
    executor_functions: dict[str, list[str]] = {}  # the Lambda ones: GPU stages are SageMaker endpoints
    for spec in plan.executors:
        ids = [function_id(spec.name, shard, spec.shards) for shard in range(spec.shards)]
        if any(f in function_ids for f in ids):
            executor_functions[spec.name] = ids
    resources["FlowStateMachine"] = {
        "Type": "AWS::Serverless::StateMachine",
        "Properties": {
            "Type": "EXPRESS",
            "DefinitionUri": asl_path,
            "DefinitionSubstitutions": substitutions,
            "Tracing": {"Enabled": tracing},
            "Policies": [
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["lambda:InvokeFunction"],
                            "Resource": [{"Fn::GetAtt": [f, "Arn"]} for f in function_ids],
                        }
                    ]
                }
            ],
        },
    }
    api: dict[str, Any] = {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "Prod"}}
    if auth == "api_key":
        api["Properties"]["Auth"] = {"ApiKeyRequired": True, "UsagePlan": {"CreateUsagePlan": "PER_API"}}
    resources["FlowApi"] = api
    events: dict[str, Any] = {}
    paths = [("Status", "/status", "GET"), ("OpenApi", "/openapi.json", "GET"), ("Docs", "/docs", "GET")]
    paths += [(camel(e) or "Root", e, "POST") for e in plan.served_endpoints]
    paths += [("Any", "/{proxy+}", "POST")]  # other endpoints: served by default methods, or a JSON 404
    for name, path, method in paths:
        events[f"{name}{method.title()}"] = {
            "Type": "Api",
            "Properties": {"RestApiId": {"Ref": "FlowApi"}, "Path": path, "Method": method},
        }
    resources["GatewayFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Description": f"faasflow gateway of Flow {plan.name}",
            "CodeUri": f"{LAYER_ONLY_CODE_DIR}/",
            "Handler": "faasflow.runtime.gateway.handler",
            "MemorySize": 512,
            "Timeout": GATEWAY_TIMEOUT,
            "Layers": [{"Ref": "RuntimeLayer"}, {"Ref": "FaasflowLayer"}, {"Ref": "GatewayLayer"}],
            "Environment": {
                "Variables": {
                    "FAASFLOW_STATE_MACHINE_ARN": {"Ref": "FlowStateMachine"},
                    "FAASFLOW_GATEWAY_CONFIG": codec.dumps_text(gateway_config(plan), sort_keys=True),
                    # names, not ARNs: Lambda allows 4 KB of environment, and names are at most 64 characters
                    "FAASFLOW_EXECUTOR_FUNCTIONS": _sub(codec.dumps_text(
                        {name: [f"${{{f}}}" for f in ids] for name, ids in executor_functions.items()})),
                }
            },
            "Policies": [
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["states:StartSyncExecution"],
                            "Resource": [{"Ref": "FlowStateMachine"}],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:PutObject"],
                            "Resource": [_s3_objects("payloads/")],
                        },
                    ]
                }
            ],
            "Events": events,
        },
    }
    if executor_functions:  # GET /status?runtime=true asks each executor shard to report itself
        resources["GatewayFunction"]["Properties"]["Policies"][0]["Statement"].append({
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [{"Fn::GetAtt": [f, "Arn"]} for ids in executor_functions.values() for f in ids],
        })
    resources.update(batch_resources(plan, substitutions, function_ids))
    outputs = {
        "ApiUrl": {
            "Description": "The Flow's HTTP endpoint",
            "Value": _sub("https://${FlowApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/Prod"),
        },
        "ApiId": {"Value": {"Ref": "FlowApi"}},
        "StateMachineArn": {"Value": {"Ref": "FlowStateMachine"}},
        "BucketName": {"Value": {"Ref": "FlowBucket"}},
        "BatchStateMachineArn": {"Value": {"Ref": "BatchStateMachine"}},
        "IngestFunctionName": {"Value": {"Ref": "IngestFunction"}},
        "GatewayFunctionName": {"Value": {"Ref": "GatewayFunction"}},
    }
    for logical_id in function_ids:
        outputs[f"{logical_id}Name"] = {"Value": {"Ref": logical_id}}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"faasflow Flow {plan.name} (generated by `faasflow build`: edit the Flow, not this file)",
        "Globals": {
            "Function": {
                "Runtime": RUNTIME,
                "Architectures": ["x86_64"],
                "Tracing": "Active" if tracing else "PassThrough",
                "Environment": {
                    "Variables": {
                        "FAASFLOW_BUCKET": _sub(BUCKET_NAME),
                        "FAASFLOW_PAYLOAD_URL": _sub(f"s3://{BUCKET_NAME}/payloads/"),
                        "POWERTOOLS_SERVICE_NAME": plan.name,
                    }
                },
            }
        },
        "Resources": resources,
        "Outputs": outputs,
    }
    check_environment_sizes(template)
    return finish_template(template, image_parameters)


ENVIRONMENT_LIMIT = 4096  # Lambda: all of a function's environment variables together
SUBSTITUTION_BOUND = 64  # what one ${...} of ours may become: function names, stack-derived bucket names


def environment_size(variables: dict[str, Any]) -> int:
    """An upper bound of the variables' size once deployed (each substitution at its longest)."""
    size = 0
    for key, value in variables.items():
        text = value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else value
        text = text if isinstance(text, str) else "x" * SUBSTITUTION_BOUND  # a Ref or GetAtt
        size += len(key) + len(re.sub(r"\$\{[^}]*\}", "x" * SUBSTITUTION_BOUND, text))
    return size


def check_environment_sizes(template: dict[str, Any]) -> None:
    """Refuse at build time what CloudFormation would refuse at deploy time."""
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        variables = {**shared, **resource["Properties"].get("Environment", {}).get("Variables", {})}
        size = environment_size(variables)
        if size > ENVIRONMENT_LIMIT:
            executor = variables.get("FAASFLOW_EXECUTOR")
            raise FlowConfigError(
                f"function {logical_id}'s environment would be up to {size} bytes, over Lambda's "
                f"{ENVIRONMENT_LIMIT}-byte limit (long uses_with values, or very many executors and shards)",
                executor=executor if isinstance(executor, str) else None, field="uses_with" if executor else None)
