"""What a Flow deploys as, decided once: one frozen value per resource (as Chalice's
deployer models its application) and a ``Deployment`` holding them all.

``faasflow.compiler.decide`` makes every decision (zip, image or GPU endpoint per
executor, ids, environment, code locations); ``faasflow.compiler.sam`` only renders. So
each choice is made in one place, and a renderer never has to undo another's output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from faasflow.compiler.intrinsics import Intrinsic
from faasflow.compiler.routes import Route
from faasflow.rollout import Rollout
from faasflow.wire import GatewayConfig

Environment = Mapping[str, str | Intrinsic]


@dataclass(frozen=True)
class Bucket:
    """The Flow's bucket: executor state, payloads, batch input and summaries.

    Private, encrypted at rest and reachable over TLS only, whatever the account's defaults.
    """

    logical_id: str
    name: str  # a Fn::Sub text: named, not referenced (see faasflow.compiler.decide)
    payload_days: int  # payloads are per request: they expire
    policy_id: str  # its bucket policy: it may Ref the bucket (nothing the bucket needs refers to it)
    block_public_access: bool = True  # all four settings of its public access block
    encryption: Literal["AES256"] = "AES256"  # default encryption: SSE-S3
    bucket_key: bool = True  # S3 Bucket Keys for that encryption
    tls_only: bool = True  # its policy denies every request not made over TLS


@dataclass(frozen=True)
class Layer:
    logical_id: str
    description: str
    content_uri: str
    built: bool  # ``sam build`` installs its requirements; otherwise ``faasflow build`` stages it


@dataclass(frozen=True, kw_only=True)
class ExecutorShard:
    """What every packaging of one executor shard has."""

    executor: str
    shard: int
    shards: int
    environment: Environment
    state_prefix: str  # the only state it may touch: ``state/<executor>/<shard>/``


@dataclass(frozen=True, kw_only=True)
class LambdaShard(ExecutorShard):
    """An executor shard run by a Lambda function (zip or image): the state machine invokes it."""

    logical_id: str
    description: str
    memory: int
    timeout: int


@dataclass(frozen=True, kw_only=True)
class ZipFunction(LambdaShard):
    code_uri: str
    handler: str
    layers: tuple[str, ...]  # logical ids


@dataclass(frozen=True, kw_only=True)
class ImageFunction(LambdaShard):
    """``package='image'``: a Lambda container image, built by ``sam build`` from its Dockerfile."""

    dockerfile: str


@dataclass(frozen=True, kw_only=True)
class GpuEndpoint(ExecutorShard):
    """``gpu=True``: a SageMaker model, endpoint config and endpoint (Lambda has no GPU).

    ``environment`` is all of it: SAM Globals never reach a SageMaker model.
    """

    logical_id: str  # the endpoint's
    role_id: str
    model_id: str
    config_id: str
    name_substitution: str  # how the state machine names it: ``${<endpoint>Name}``
    image_parameter: str
    instance_type_parameter: str


ExecutorResource = ZipFunction | ImageFunction | GpuEndpoint


@dataclass(frozen=True)
class StateMachine:
    logical_id: str
    type: Literal["EXPRESS", "STANDARD"]
    definition_uri: str
    substitutions: Mapping[str, Intrinsic]  # what its ``${...}`` become
    functions: tuple[str, ...]  # the Lambda functions it invokes
    endpoints: tuple[str, ...]  # the GPU endpoints it invokes
    name: str | None = None  # a Fn::Sub text, for a machine that must know its own ARN
    tracing: bool | None = None  # None: not configured


@dataclass(frozen=True)
class ApiRoute:
    name: str  # the event's name, with the method: ``QueryPost``
    path: str
    method: str


@dataclass(frozen=True)
class Gateway:
    """The REST API and the gateway function behind it, which starts the Express machine."""

    api_id: str
    function_id: str
    machine_id: str
    description: str
    code_uri: str
    handler: str
    memory: int
    timeout: int
    layers: tuple[str, ...]
    api_key: bool
    routes: tuple[ApiRoute, ...]
    config: GatewayConfig
    # executor -> its shards' functions (GET /status?runtime=true asks each): Lambda stages only
    executor_functions: Mapping[str, tuple[str, ...]]
    iam: bool = False  # every route needs a SigV4-signed request (the API's default authorizer is AWS_IAM)
    idempotency_table_id: str | None = None  # the DynamoDB table of kept answers; None: answers not kept


@dataclass(frozen=True)
class BatchIngest:
    """S3 ``incoming/*.jsonl`` -> the ingest function -> the batch machine, whose children
    read their splits with the batch worker."""

    ingest_id: str
    worker_id: str
    machine_id: str
    bucket_id: str
    code_uri: str
    handler: str
    layers: tuple[str, ...]
    ingest_memory: int
    ingest_timeout: int
    worker_memory: int
    worker_timeout: int


@dataclass(frozen=True)
class Deployment:
    """Everything a Flow deploys as, and the routes it was decided from."""

    name: str
    runtime: str
    tracing: bool
    environment: Environment  # every function's (SAM Globals)
    bucket: Bucket
    layers: tuple[Layer, ...]
    executors: tuple[ExecutorResource, ...]
    machine: StateMachine
    gateway: Gateway
    batch: BatchIngest
    batch_machine: StateMachine
    routes: tuple[Route, ...]
    rollout: Rollout | None = None  # executor functions publish versions behind an alias, shifted gradually
    monitoring: bool = True  # alarms, their SNS topic and a dashboard (faasflow.compiler.monitoring)
    drift_executors: tuple[str, ...] = ()  # executors that emit the embedding-drift metrics

    @property
    def functions(self) -> tuple[ZipFunction | ImageFunction, ...]:
        return tuple(e for e in self.executors if isinstance(e, (ZipFunction, ImageFunction)))

    @property
    def endpoints(self) -> tuple[GpuEndpoint, ...]:
        return tuple(e for e in self.executors if isinstance(e, GpuEndpoint))

    @property
    def has_images(self) -> bool:
        """An image function must not get a Runtime from Globals: zip functions then name theirs."""
        return any(isinstance(e, ImageFunction) for e in self.executors)
