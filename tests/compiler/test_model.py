"""decide(): what a Plan deploys as, decided once, before anything is rendered."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from faasflow import Flow, FlowConfigError
from faasflow.compiler.decide import IMAGE_MEMORY, decide
from faasflow.compiler.intrinsics import get_att
from faasflow.compiler.model import GpuEndpoint, ImageFunction, ZipFunction
from faasflow.compiler.routes import plan_routes
from faasflow.compiler.sam import render_sam

ROOT = Path(__file__).resolve().parents[2]
ENCODER = "faasflow.executors.onnx_encoder.OnnxEncoder"
ASL = "orchestrator/x.asl.json"


def reference() -> Flow:
    return Flow.load_config(ROOT / "orchestrator" / "flow.yml")


def images(gpu_shards: int = 2) -> Flow:
    """A Lambda image, a sharded zip store, a GPU encoder (no model needed: nothing is built)."""
    return (
        Flow(name="images")
        .add(uses=ENCODER, name="encoder", package="image", uses_with={"model": "tiny"})
        .add(uses="functions.doc_store.DocStore", name="db", shards=2, polling={"/query": "ALL", "/index": "ANY"})
        .add(uses=ENCODER, name="gpu-encoder", gpu=True, shards=gpu_shards, uses_with={"model": "tiny"})
    )


def test_the_reference_flow_is_one_zip_function_per_shard():
    deployment = decide(reference().plan, ROOT, ASL)
    assert [(type(e), e.logical_id) for e in deployment.executors] == [
        (ZipFunction, "FeaturizerFunction"),
        (ZipFunction, "DbShard0Function"),
        (ZipFunction, "DbShard1Function"),
        (ZipFunction, "DbShard2Function"),
        (ZipFunction, "RankerFunction"),
    ]
    shard = deployment.executors[2]
    assert isinstance(shard, ZipFunction)
    assert (shard.executor, shard.shard, shard.shards, shard.state_prefix) == ("db", 1, 3, "state/db/1/")
    assert shard.code_uri == "functions/" and shard.environment["FAASFLOW_USES"] == "doc_store.DocStore"
    assert "GatewayLayer" not in shard.layers and "GatewayLayer" in deployment.gateway.layers
    assert not deployment.has_images and deployment.endpoints == ()


def test_the_machines_invoke_what_was_decided():
    deployment = decide(reference().plan, ROOT, ASL)
    functions = tuple(f.logical_id for f in deployment.functions)
    machine, batch = deployment.machine, deployment.batch_machine
    assert (machine.type, machine.definition_uri, machine.functions) == ("EXPRESS", ASL, functions)
    assert machine.substitutions["DbShard2FunctionArn"] == get_att("DbShard2Function", "Arn")
    assert batch.type == "STANDARD" and batch.functions == (*functions, "BatchWorkerFunction")
    assert list(batch.substitutions) == [*machine.substitutions, "BatchWorkerFunctionArn"]
    assert deployment.gateway.executor_functions["db"] == ("DbShard0Function", "DbShard1Function", "DbShard2Function")
    assert [r.key for r in deployment.routes] == [r.key for r in plan_routes(reference().plan)]


def test_image_and_gpu_executors_get_their_own_classes():
    deployment = decide(images().plan, ROOT, ASL)
    assert [(type(e), e.logical_id) for e in deployment.executors] == [
        (ImageFunction, "EncoderFunction"),
        (ZipFunction, "DbShard0Function"),
        (ZipFunction, "DbShard1Function"),
        (GpuEndpoint, "GpuEncoderShard0Endpoint"),
        (GpuEndpoint, "GpuEncoderShard1Endpoint"),
    ]
    image = deployment.executors[0]
    assert isinstance(image, ImageFunction)
    assert image.memory == IMAGE_MEMORY and image.dockerfile == "infra/images/encoder.Dockerfile"
    endpoint = deployment.endpoints[1]
    assert (endpoint.role_id, endpoint.model_id, endpoint.config_id) == (
        "GpuEncoderShard1EndpointRole", "GpuEncoderShard1Model", "GpuEncoderShard1EndpointConfig")
    assert endpoint.environment["FAASFLOW_SHARD"] == "1" and "FAASFLOW_PAYLOAD_URL" in endpoint.environment
    assert deployment.has_images
    machine = deployment.machine
    assert machine.endpoints == ("GpuEncoderShard0Endpoint", "GpuEncoderShard1Endpoint")
    assert "GpuEncoderShard0Endpoint" not in machine.functions
    assert machine.substitutions["GpuEncoderShard1EndpointName"] == get_att("GpuEncoderShard1Endpoint", "EndpointName")
    assert set(deployment.gateway.executor_functions) == {"encoder", "db"}  # Lambda stages only


def test_the_deployment_is_frozen():
    deployment = decide(reference().plan, ROOT, ASL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        deployment.name = "other"  # type: ignore[misc]


def test_an_onnx_executor_in_a_zip_function_is_refused_on_amazon_linux_2():
    with pytest.raises(FlowConfigError, match="executor 'enc', field 'package'"):
        decide(Flow(name="x", runtime="python3.11").add(uses=ENCODER, name="enc").plan, ROOT, ASL)


def test_rendering_follows_the_model():
    zipped = render_sam(decide(reference().plan, ROOT, ASL))
    assert list(zipped["Parameters"]) == ["AlarmEmail"] and zipped["Globals"]["Function"]["Runtime"] == "python3.13"
    template = render_sam(decide(images().plan, ROOT, ASL))
    assert list(template)[:4] == ["AWSTemplateFormatVersion", "Transform", "Description", "Parameters"]
    assert "Runtime" not in template["Globals"]["Function"]
    resources = template["Resources"]
    assert resources["DbShard0Function"]["Properties"]["Runtime"] == "python3.13"
    assert "Runtime" not in resources["EncoderFunction"]["Properties"]
    kinds = [r["Type"] for r in resources.values()]
    assert kinds.count("AWS::SageMaker::Endpoint") == 2 and kinds.count("AWS::SageMaker::Model") == 2
