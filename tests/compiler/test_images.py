"""``package='image'`` and ``gpu=True`` in ``faasflow build``: Dockerfiles and requirements
from one source, image functions, SageMaker endpoints and the state machine that calls them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("onnx", reason="onnx (dev extra) builds the tiny model the test project bakes")

from faasflow import Flow, FlowConfigError  # noqa: E402
from faasflow.compiler import images  # noqa: E402
from faasflow.compiler.artefacts import artefacts, stale
from faasflow.deploy.layers import write  # noqa: E402
from tests.support.image_project import ENCODER, ROOT, TINY, image_flow, make_project  # noqa: E402


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def template_of(flow: Flow, project: Path) -> dict:
    return yaml.safe_load(artefacts(flow.plan, project).files["template.yaml"])


def test_dockerfiles_and_requirements_come_from_one_source(project: Path):
    files = artefacts(image_flow().plan, project).files
    assert files["infra/images/requirements-lambda.txt"].splitlines()[2:] == images.requirements("lambda")
    assert files["infra/images/requirements-gpu.txt"].splitlines()[2:] == images.requirements("gpu")
    lambda_file = files["infra/images/encoder.Dockerfile"]
    assert lambda_file.splitlines()[1] == f"FROM {images.LAMBDA_BASE}"
    assert "COPY infra/images/requirements-lambda.txt /tmp/requirements.txt" in lambda_file
    assert f"COPY .faasflow/models/{TINY} /opt/faasflow/models/{TINY}" in lambda_file
    assert lambda_file.rstrip().endswith('CMD ["faasflow.runtime.handler.handle"]')
    gpu_file = files["infra/images/gpu-encoder.gpu.Dockerfile"]
    assert f"FROM {images.GPU_BASE}" in gpu_file and "FAASFLOW_ONNX_DEVICE=cuda" in gpu_file
    assert 'ENTRYPOINT ["python", "-m", "faasflow.runtime.sagemaker"]' in gpu_file and "EXPOSE 8080" in gpu_file
    ignore = files[".dockerignore"].splitlines()
    assert ignore[1] == "*" and f"!.faasflow/models/{TINY}" in ignore and "!infra/images/" in ignore


def test_image_pins_match_the_tested_environment_and_the_runtime_layer():
    pinned = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().split() if "==" in line)
    for pin in images.ONNX_PINS:
        name, version = pin.split("==")
        assert pinned[name] == version, f"{pin}: constraints.txt pins {name}=={pinned.get(name)}"
    assert images.GPU_ONNX_PINS[0].split("==")[1] == pinned["onnxruntime"]  # the GPU build of the same release
    layer = (ROOT / "layers/runtime/requirements.txt").read_text()
    assert all(pin in layer.split() for pin in images.runtime_pins())


def test_an_image_executor_is_an_image_function(project: Path):
    template = template_of(image_flow(), project)
    function = template["Resources"]["EncoderFunction"]
    props = function["Properties"]
    assert props["PackageType"] == "Image" and props["MemorySize"] == images.IMAGE_MEMORY
    assert not {"CodeUri", "Handler", "Layers", "Runtime"} & set(props)
    assert function["Metadata"] == {"Dockerfile": "infra/images/encoder.Dockerfile", "DockerContext": ".",
                                    "DockerTag": "latest"}
    env = props["Environment"]["Variables"]
    assert env["FAASFLOW_USES"] == ENCODER and json.loads(env["FAASFLOW_USES_WITH"]) == {"model": TINY}
    # an image function must not inherit a Runtime: it moved onto each zip function
    assert "Runtime" not in template["Globals"]["Function"]
    assert template["Resources"]["DbShard0Function"]["Properties"]["Runtime"] == "python3.13"
    assert template["Resources"]["GatewayFunction"]["Properties"]["Runtime"] == "python3.13"


def test_a_gpu_executor_is_a_sagemaker_endpoint_per_shard(project: Path):
    template = template_of(image_flow(gpu_shards=2), project)
    resources = template["Resources"]
    assert not [k for k in resources if k.startswith("GpuEncoder") and k.endswith("Function")]
    for shard in (0, 1):
        base = f"GpuEncoderShard{shard}"
        assert resources[f"{base}Endpoint"]["Type"] == "AWS::SageMaker::Endpoint"
        variant = resources[f"{base}EndpointConfig"]["Properties"]["ProductionVariants"][0]
        assert variant["InstanceType"] == {"Ref": "GpuEncoderGpuInstanceType"}
        container = resources[f"{base}Model"]["Properties"]["PrimaryContainer"]
        assert container["Image"] == {"Ref": "GpuEncoderGpuImageUri"}
        env = container["Environment"]
        assert env["FAASFLOW_SHARD"] == str(shard) and "FAASFLOW_PAYLOAD_URL" in env  # Globals, copied in
        role = json.dumps(resources[f"{base}EndpointRole"]["Properties"]["Policies"])
        assert f"state/gpu-encoder/{shard}/*" in role and f"state/gpu-encoder/{1 - shard}/" not in role
        assert f"{base}EndpointName" in template["Outputs"]
    assert template["Parameters"]["GpuEncoderGpuInstanceType"]["Default"] == "ml.g5.xlarge"
    machine = resources["FlowStateMachine"]["Properties"]
    invoke = machine["Policies"][0]["Statement"][-1]
    assert invoke["Action"] == ["sagemaker:InvokeEndpoint"] and len(invoke["Resource"]) == 2
    assert machine["DefinitionSubstitutions"]["GpuEncoderShard1EndpointName"] == {
        "Fn::GetAtt": ["GpuEncoderShard1Endpoint", "EndpointName"]}
    lambdas = json.dumps(machine["Policies"][0]["Statement"][0])
    assert "GpuEncoder" not in lambdas and "EncoderFunction" in lambdas
    gateway = resources["GatewayFunction"]["Properties"]
    asked = gateway["Environment"]["Variables"]["FAASFLOW_EXECUTOR_FUNCTIONS"]["Fn::Sub"]
    shards = ["DbShard0Function", "DbShard1Function"]
    assert json.loads(asked) == {"encoder": ["${EncoderFunction}"],  # /status?runtime=true: Lambda stages only
                                 "db": [f"${{{f}}}" for f in shards]}
    assert gateway["Policies"][0]["Statement"][-1]["Resource"] == [
        {"Fn::GetAtt": [f, "Arn"]} for f in ["EncoderFunction", *shards]]


def test_the_state_machine_calls_gpu_stages_through_invoke_endpoint(project: Path):
    files = artefacts(image_flow(gpu_shards=1).plan, project).files
    states = json.loads(files["orchestrator/images.asl.json"])["States"]
    stage = states["/query gpu-encoder"]
    assert stage["Type"] == "Parallel" and stage["ResultSelector"] == {"value.$": "$[0]"}  # lands as a function's
    branch = stage["Branches"][0]["States"]
    build, invoke = branch["/query gpu-encoder shard 0"], branch["/query gpu-encoder shard 0 invoke"]
    assert build["Type"] == "Pass" and build["Parameters"]["event"]["values"] == {"db.$": "$.outputs.db"}
    assert invoke["Resource"] == "arn:aws:states:::aws-sdk:sagemakerruntime:invokeEndpoint"
    assert invoke["Parameters"]["EndpointName"] == "${GpuEncoderEndpointName}"
    assert invoke["Parameters"]["Body.$"] == "States.JsonToString($.event)"
    assert invoke["ResultSelector"] == {"value.$": "States.StringToJson($.Body)"}
    assert invoke["Catch"][0]["Next"] == "/query gpu-encoder shard 0 crashed"
    check = states["/query gpu-encoder check"]["Choices"][0]
    assert check["Variable"] == "$.outputs.gpu_encoder.value.error"
    # the Lambda stages are untouched
    assert states["/query encoder"]["Resource"] == "arn:aws:states:::lambda:invoke"


def test_yaml_options_build_the_same(project: Path, tmp_path: Path):
    path = tmp_path / "flow.yml"
    image_flow().save_config(path)
    loaded = yaml.safe_load(path.read_text())
    assert loaded["executors"][0]["package"] == "image" and loaded["executors"][2]["gpu"] is True
    assert artefacts(Flow.load_config(path).plan, project).files == artefacts(image_flow().plan, project).files


def test_generated_image_files_are_checked_for_staleness(project: Path):
    flow = image_flow()
    write(flow.plan, project)
    assert stale(flow.plan, project) == []
    (project / "infra/images/requirements-gpu.txt").write_text("onnxruntime-gpu\n")
    assert stale(flow.plan, project) == ["infra/images/requirements-gpu.txt"]


def test_a_flow_without_images_generates_no_image_files():
    files = artefacts(Flow.load_config(ROOT / "orchestrator" / "flow.yml").plan, ROOT).files
    assert not [path for path in files if path.startswith("infra/") or path == ".dockerignore"]


def test_models_are_baked_by_name_or_project_path(project: Path):
    flow = Flow(name="x").add(uses=ENCODER, name="enc", package="image", uses_with={"model": "models/mine"})
    assert "COPY models/mine ${LAMBDA_TASK_ROOT}/models/mine" in artefacts(flow.plan, project).files[
        "infra/images/enc.Dockerfile"]
    flow = Flow(name="x").add(uses=ENCODER, name="enc", package="image", uses_with={"model": "/abs/model.onnx"})
    with pytest.raises(FlowConfigError, match="executor 'enc', field 'uses_with'"):
        artefacts(flow.plan, project)


def test_sam_validate_lint_passes_on_an_image_and_gpu_template(project: Path):
    from faasflow.deploy.sam import validate
    from faasflow.deploy.tools import ToolsUnavailable

    write(image_flow(gpu_shards=2).plan, project)
    try:
        output = validate(project)
    except ToolsUnavailable as exc:
        pytest.skip(f"no SAM CLI env: {exc}")
    assert "is a valid SAM Template" in output


def test_an_onnx_encoder_in_a_zip_function_is_refused_on_amazon_linux_2(project: Path):
    flow = Flow(name="x", runtime="python3.11").add(uses=ENCODER, name="enc", uses_with={"model": TINY})
    with pytest.raises(FlowConfigError, match="executor 'enc', field 'package'.*needs package='image'.*python3.11"):
        artefacts(flow.plan, project)
