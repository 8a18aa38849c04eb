"""Plan -> Deployment: every decision of what a Flow deploys as, made once.

One function per executor shard (a zip function, a Lambda image, or for ``gpu=True`` a
SageMaker endpoint), the layers, the Express state machine, the gateway function behind
API Gateway, the bucket, batch ingest and its Standard state machine. The routes are
planned once per build and shared by everything that needs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from faasflow import codec
from faasflow.compiler import endpoints
from faasflow.compiler.asl import gateway_inline_limit
from faasflow.compiler.images import IMAGE_MEMORY, dockerfile_path, image_kind, layer_models
from faasflow.compiler.intrinsics import Intrinsic, get_att, ref, sub
from faasflow.compiler.layout import (
    FAASFLOW_LAYER_DIR,
    LAYER_ONLY_CODE_DIR,
    CodeLocation,
    batch_asl_file_name,
    code_location,
    gateway_code_dir,
    models_layer_dir,
)
from faasflow.compiler.model import (
    ApiRoute,
    BatchIngest,
    Bucket,
    Deployment,
    Environment,
    ExecutorResource,
    Gateway,
    GpuEndpoint,
    ImageFunction,
    Layer,
    StateMachine,
    ZipFunction,
)
from faasflow.compiler.naming import camel, function_id
from faasflow.compiler.routes import OTHER_ENDPOINTS, Route, plan_routes
from faasflow.errors import FlowConfigError
from faasflow.plan import ExecutorSpec, Plan
from faasflow.runtimes import AMAZON_LINUX_2
from faasflow.wire import GatewayConfig

DEFAULT_MEMORY = 512
DEFAULT_TIMEOUT = 30
GATEWAY_TIMEOUT = 29  # API Gateway's integration timeout
PAYLOAD_DAYS = 1
EXECUTOR_HANDLER = "faasflow.runtime.handler.handle"
# The bucket is named, not referenced: the batch ingest function is both notified by the
# bucket and allowed into it, and a Ref both ways would be a dependency cycle. Stack names
# must be lower case (bucket names are). Its policy is a resource of its own that refers to
# the bucket; nothing the bucket depends on refers to the policy, so that adds no cycle.
BUCKET_NAME = "${AWS::StackName}-${AWS::AccountId}-${AWS::Region}"
BATCH_MACHINE_NAME = "${AWS::StackName}-batch"  # the batch machine starts its own children: it knows its ARN

BUCKET_ID, BUCKET_POLICY_ID = "FlowBucket", "FlowBucketPolicy"
RUNTIME_LAYER, FAASFLOW_LAYER, GATEWAY_LAYER = "RuntimeLayer", "FaasflowLayer", "GatewayLayer"
ONNX_LAYER = "OnnxLayer"  # the runtime layer's pins plus ONNX Runtime: zip functions of ONNX executors
MACHINE_ID, BATCH_MACHINE_ID = "FlowStateMachine", "BatchStateMachine"
API_ID, GATEWAY_ID = "FlowApi", "GatewayFunction"
IDEMPOTENCY_TABLE_ID = "IdempotencyTable"
INGEST_ID, WORKER_ID = "IngestFunction", "BatchWorkerFunction"
EXECUTOR_LAYERS = (RUNTIME_LAYER, FAASFLOW_LAYER)  # executors get no FastAPI


def gateway_config(plan: Plan, routes: Sequence[Route] | None = None) -> GatewayConfig:
    """What the gateway function knows of the Flow (no executor code is imported there)."""
    from faasflow.topology import describe

    routes = plan_routes(plan) if routes is None else routes
    described = describe(plan)
    return {
        "name": plan.name,
        "endpoints": plan.served_endpoints,
        "any_endpoint": any(r.key == OTHER_ENDPOINTS for r in routes),
        "executors": described["executors"],
        "answer": described["answer"],
        "inline_limit": gateway_inline_limit(plan, routes),
        "idempotency_ttl_s": plan.idempotency_ttl_s,
    }


def shared_environment(plan: Plan) -> Environment:
    """Every function's variables (SAM Globals)."""
    return {
        "FAASFLOW_BUCKET": sub(BUCKET_NAME),
        "FAASFLOW_PAYLOAD_URL": sub(f"s3://{BUCKET_NAME}/payloads/"),
        "POWERTOOLS_SERVICE_NAME": plan.name,
    }


def executor_environment(spec: ExecutorSpec, shard: int, location: CodeLocation) -> Environment:
    """What one shard's runtime needs to find, configure and place itself (Jina's
    uses_requests and disable_reduce, and a helper's docs_map names, only where set)."""
    jina: dict[str, str] = {}
    if spec.uses_requests:
        jina["FAASFLOW_USES_REQUESTS"] = codec.dumps_text(dict(spec.uses_requests), sort_keys=True)
    if spec.disable_reduce:
        jina["FAASFLOW_DISABLE_REDUCE"] = "1"
    if spec.docs_map_keys:  # a uses_before / uses_after: the names its docs_map rows go by
        jina["FAASFLOW_DOCS_MAP_KEYS"] = codec.dumps_text(list(spec.docs_map_keys))
    return {
        **jina,
        "FAASFLOW_EXECUTOR": spec.name,
        "FAASFLOW_USES": location.uses,
        "FAASFLOW_USES_WITH": codec.dumps_text(dict(spec.uses_with), sort_keys=True),
        "FAASFLOW_SHARD": str(shard),
        "FAASFLOW_SHARDS": str(spec.shards),
        "FAASFLOW_NEEDS": codec.dumps_text(list(spec.needs)),
        "FAASFLOW_STORAGE_URL": sub(f"s3://{BUCKET_NAME}/state/"),
    }


def onnx_in_zip(spec: ExecutorSpec, runtime: str) -> bool:
    """Whether the executor runs ONNX Runtime from a zip function (its layers, not an image).

    Amazon Linux 2 (python3.11) has too old a glibc for onnxruntime: there it takes an image."""
    if image_kind(spec) is not None or not getattr(spec.cls, "needs_onnx_runtime", False):
        return False
    if runtime in AMAZON_LINUX_2:
        raise FlowConfigError(
            f"needs package='image' (or gpu=True) on the {runtime} runtime: ONNX Runtime needs a newer glibc than "
            "Amazon Linux 2 has; or set the Flow's runtime to python3.12 or python3.13 for a zip function",
            executor=spec.name, field="package")
    return True


def models_layer_id(executor: str) -> str:
    return f"{camel(executor)}ModelsLayer"


def executor_layers(spec: ExecutorSpec, runtime: str) -> tuple[str, ...]:
    """A zip function's layers: the runtime and faasflow; for an ONNX executor, the runtime
    with ONNX Runtime in one layer (numpy once) and its models."""
    if onnx_in_zip(spec, runtime):
        layer_models(spec)  # a model file path is refused here, before anything is built
        return (ONNX_LAYER, FAASFLOW_LAYER, models_layer_id(spec.name))
    return EXECUTOR_LAYERS


def executor_shards(spec: ExecutorSpec, location: CodeLocation, shared: Environment,
                    runtime: str) -> list[ExecutorResource]:
    """One resource per shard: a zip function, an image function or a GPU endpoint."""
    kind = image_kind(spec)
    function_layers = executor_layers(spec, runtime) if kind is None else ()
    made: list[ExecutorResource] = []
    for shard in range(spec.shards):
        environment = executor_environment(spec, shard, location)
        state_prefix = f"state/{spec.name}/{shard}/"
        if kind == "gpu":
            role, model, config = endpoints.endpoint_part_ids(spec.name, shard, spec.shards)
            made.append(GpuEndpoint(
                executor=spec.name, shard=shard, shards=spec.shards, environment={**shared, **environment},
                state_prefix=state_prefix, logical_id=endpoints.endpoint_id(spec.name, shard, spec.shards),
                role_id=role, model_id=model, config_id=config,
                name_substitution=endpoints.endpoint_name_substitution(spec.name, shard, spec.shards),
                image_parameter=endpoints.image_uri_parameter(spec.name),
                instance_type_parameter=endpoints.instance_type_parameter(spec.name)))
            continue
        logical_id = function_id(spec.name, shard, spec.shards)
        description = f"faasflow executor {spec.name}" + (f" shard {shard}" if spec.shards > 1 else "")
        timeout = spec.timeout or DEFAULT_TIMEOUT
        if kind == "lambda":
            made.append(ImageFunction(
                executor=spec.name, shard=shard, shards=spec.shards, environment=environment,
                state_prefix=state_prefix, logical_id=logical_id, description=description,
                memory=spec.memory or IMAGE_MEMORY, timeout=timeout, dockerfile=dockerfile_path(spec)))
            continue
        made.append(ZipFunction(
            executor=spec.name, shard=shard, shards=spec.shards, environment=environment,
            state_prefix=state_prefix, logical_id=logical_id, description=description,
            memory=spec.memory or DEFAULT_MEMORY, timeout=timeout, code_uri=location.code_uri,
            handler=EXECUTOR_HANDLER, layers=function_layers))
    return made


def layers(onnx_executors: Sequence[str] = ()) -> tuple[Layer, ...]:
    """The layers every Flow has, plus the ONNX layer and a models layer per zip-packaged
    ONNX executor when it has any."""
    made = [
        Layer(RUNTIME_LAYER, "numpy, orjson, PyYAML: what executors need at run time", "layers/runtime/", True),
        Layer(FAASFLOW_LAYER, "the faasflow package (staged by faasflow build)", f"{FAASFLOW_LAYER_DIR}/", False),
        Layer(GATEWAY_LAYER, "FastAPI and Mangum: the gateway function only", "layers/gateway/", True),
    ]
    if onnx_executors:
        made.append(Layer(ONNX_LAYER, "the runtime layer plus ONNX Runtime and tokenizers", "layers/onnx/", True))
    made += [Layer(models_layer_id(name), f"the models of executor {name} (staged by faasflow build)",
                   f"{models_layer_dir(name)}/", False) for name in onnx_executors]
    return tuple(made)


def zip_onnx_executors(plan: Plan) -> list[ExecutorSpec]:
    """The executors (helpers included) that run ONNX Runtime from a zip function."""
    return [one for spec in plan.executors for one in (spec, *spec.helpers) if onnx_in_zip(one, plan.runtime)]


def api_routes(plan: Plan) -> tuple[ApiRoute, ...]:
    paths = [("Status", "/status", "GET"), ("OpenApi", "/openapi.json", "GET"), ("Docs", "/docs", "GET")]
    paths += [(camel(e) or "Root", e, "POST") for e in plan.served_endpoints]
    paths += [("Any", "/{proxy+}", "POST")]  # other endpoints: served by default methods, or a JSON 404
    return tuple(ApiRoute(f"{name}{method.title()}", path, method) for name, path, method in paths)


def decide(plan: Plan, project: Path, asl_path: str, routes: Sequence[Route] | None = None) -> Deployment:
    """What ``plan`` deploys as; ``asl_path`` is the Express machine's file, relative to the
    template; ``routes`` are ``plan_routes(plan)``, when the caller has them already."""
    routes = tuple(plan_routes(plan) if routes is None else routes)
    # uses_before/uses_after executors are functions of their own, right after their executor's
    specs = [one for spec in plan.executors for one in (spec, *spec.helpers)]
    locations = {spec.name: code_location(spec, project) for spec in specs}  # a bad `uses` first
    shared = shared_environment(plan)
    executors = tuple(made for spec in specs
                      for made in executor_shards(spec, locations[spec.name], shared, plan.runtime))
    lambda_shards = [e for e in executors if not isinstance(e, GpuEndpoint)]
    gpu_endpoints = [e for e in executors if isinstance(e, GpuEndpoint)]
    functions = tuple(f.logical_id for f in lambda_shards)
    endpoint_ids = tuple(e.logical_id for e in gpu_endpoints)
    # with a rollout, the machines invoke each function's alias (``Ref: <id>.Alias`` is its
    # ARN), so that CodeDeploy's traffic shift is what every request sees
    substitutions: dict[str, Intrinsic] = {
        f"{f}Arn": ref(f"{f}.Alias") if plan.rollout is not None else get_att(f, "Arn") for f in functions}
    substitutions.update({e.name_substitution: get_att(e.logical_id, "EndpointName") for e in gpu_endpoints})
    executor_functions: dict[str, tuple[str, ...]] = {}
    for function in lambda_shards:
        executor_functions[function.executor] = (*executor_functions.get(function.executor, ()), function.logical_id)
    return Deployment(
        name=plan.name,
        runtime=plan.runtime,
        tracing=plan.tracing,
        environment=shared,
        bucket=Bucket(BUCKET_ID, BUCKET_NAME, PAYLOAD_DAYS, BUCKET_POLICY_ID),
        layers=layers([spec.name for spec in zip_onnx_executors(plan)]),
        executors=executors,
        machine=StateMachine(MACHINE_ID, "EXPRESS", asl_path, substitutions, functions, endpoint_ids,
                             tracing=plan.tracing),
        gateway=Gateway(
            api_id=API_ID,
            function_id=GATEWAY_ID,
            machine_id=MACHINE_ID,
            description=f"faasflow gateway of Flow {plan.name}",
            code_uri=gateway_code_dir(plan.name),
            handler="faasflow.runtime.gateway.handler",
            memory=512,
            timeout=GATEWAY_TIMEOUT,
            layers=(*EXECUTOR_LAYERS, GATEWAY_LAYER),
            api_key=plan.auth == "api_key",
            iam=plan.auth == "iam",
            idempotency_table_id=IDEMPOTENCY_TABLE_ID if plan.idempotency_ttl_s > 0 else None,
            routes=api_routes(plan),
            config=gateway_config(plan, routes),
            executor_functions=executor_functions,
        ),
        batch=BatchIngest(
            ingest_id=INGEST_ID,
            worker_id=WORKER_ID,
            machine_id=BATCH_MACHINE_ID,
            bucket_id=BUCKET_ID,
            code_uri=f"{LAYER_ONLY_CODE_DIR}/",
            handler="faasflow.runtime.ingest.handler",
            layers=EXECUTOR_LAYERS,
            ingest_memory=256,
            ingest_timeout=60,
            worker_memory=512,
            worker_timeout=300,  # a split is read and its summary written in one invocation
        ),
        batch_machine=StateMachine(
            BATCH_MACHINE_ID, "STANDARD", batch_asl_file_name(plan.name),
            {**substitutions, f"{WORKER_ID}Arn": get_att(WORKER_ID, "Arn")}, (*functions, WORKER_ID), endpoint_ids,
            name=BATCH_MACHINE_NAME),
        routes=routes,
        rollout=plan.rollout,
        monitoring=plan.monitoring,
        drift_executors=tuple(spec.name for spec in specs if emits_embedding_drift(spec)),
    )


def emits_embedding_drift(spec: ExecutorSpec) -> bool:
    """A VectorIndexer (or a subclass) emits the query-to-centroid similarity its alarm watches."""
    from faasflow.executors.vector_indexer import VectorIndexer

    return isinstance(spec.cls, type) and issubclass(spec.cls, VectorIndexer)
