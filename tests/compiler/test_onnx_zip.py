"""An ONNX executor in a zip function (python3.12 and 3.13, Amazon Linux 2023): ONNX Runtime
in a layer with the runtime's pins (numpy once), its models in a layer of their own, and the
250 MB unzipped limit checked after `sam build`, before anything is deployed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from faasflow import Flow, FlowConfigError
from faasflow.compiler.pins import ONNX_LAYER_FILE, ONNX_PINS, runtime_pins
from faasflow.deploy.layers import write
from faasflow.deploy.sam import LAMBDA_UNZIPPED_LIMIT, PackageTooLarge, check_package_sizes, zip_package_sizes
from faasflow.executors.model_files import LAYER_MODELS_DIR, model_roots

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.support.image_project import ENCODER, TINY, make_project  # noqa: E402


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p")


def zip_flow(runtime: str = "python3.13") -> Flow:
    return (Flow(name="zipped", runtime=runtime)
            .add(uses=ENCODER, name="encoder", uses_with={"model": TINY})
            .add(uses="functions.doc_store.DocStore", name="db", shards=2))


def test_the_encoder_function_gets_the_onnx_layer_and_its_models_layer(project: Path) -> None:
    write(zip_flow().plan, project)
    resources = yaml.safe_load((project / "template.yaml").read_text())["Resources"]
    encoder = resources["EncoderFunction"]["Properties"]
    assert "PackageType" not in encoder and encoder["Handler"] == "faasflow.runtime.handler.handle"
    assert encoder["Layers"] == [{"Ref": "OnnxLayer"}, {"Ref": "FaasflowLayer"}, {"Ref": "EncoderModelsLayer"}]
    assert resources["DbShard0Function"]["Properties"]["Layers"] == [{"Ref": "RuntimeLayer"}, {"Ref": "FaasflowLayer"}]
    assert resources["OnnxLayer"]["Metadata"]["BuildMethod"] == "python3.13"
    assert "Metadata" not in resources["EncoderModelsLayer"]  # staged by faasflow build, not installed
    pins = (project / ONNX_LAYER_FILE).read_text().splitlines()
    assert [line for line in pins if not line.startswith("#")] == [*runtime_pins("python3.13"), *ONNX_PINS]
    staged = project / resources["EncoderModelsLayer"]["Properties"]["ContentUri"] / "python" / LAYER_MODELS_DIR / TINY
    cached = project / ".faasflow" / "models" / TINY
    assert sorted(p.name for p in staged.iterdir()) == sorted(p.name for p in cached.iterdir())
    assert (staged / "model.onnx").read_bytes() == (cached / "model.onnx").read_bytes()


def test_a_flow_without_onnx_in_zip_has_no_onnx_layer(project: Path) -> None:
    write(Flow(name="plain").add(uses="functions.doc_store.DocStore", name="db").plan, project)
    resources = yaml.safe_load((project / "template.yaml").read_text())["Resources"]
    assert "OnnxLayer" not in resources and not (project / ONNX_LAYER_FILE).exists()


def test_a_model_file_path_is_for_images_and_a_missing_model_is_named(project: Path) -> None:
    flow = Flow(name="x").add(uses=ENCODER, name="enc", uses_with={"model": "functions/model.onnx"})
    with pytest.raises(FlowConfigError, match="executor 'enc', field 'uses_with': a zip function takes models by name"):
        write(flow.plan, project)
    flow = Flow(name="x").add(uses=ENCODER, name="enc", uses_with={"model": "nowhere"})
    with pytest.raises(FileNotFoundError, match="executor 'enc': model 'nowhere' is not in the model cache"):
        write(flow.plan, project)


def test_the_encoder_finds_a_models_layer_on_the_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layer_python = tmp_path / "opt" / "python"
    (layer_python / LAYER_MODELS_DIR / TINY).mkdir(parents=True)
    monkeypatch.syspath_prepend(str(layer_python))
    assert layer_python / LAYER_MODELS_DIR in model_roots()


def fake_build(project: Path, sizes: dict[str, int]) -> None:
    """Files of the given sizes where `sam build` would leave each built function and layer."""
    for logical_id, size in sizes.items():
        folder = project / ".aws-sam" / "build" / logical_id
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "blob", "wb") as handle:
            handle.truncate(size)  # sparse: no real disk used


def test_a_function_over_the_unzipped_limit_is_refused_naming_what_fills_it(project: Path) -> None:
    write(zip_flow().plan, project)
    fake_build(project, {"EncoderFunction": 10_000, "OnnxLayer": 188_000_000, "DbShard0Function": 1,
                         "DbShard1Function": 1, "RuntimeLayer": 60_000_000, "GatewayFunction": 1, "GatewayLayer": 1,
                         "IngestFunction": 1, "BatchWorkerFunction": 1})
    sizes = zip_package_sizes(project, "template.yaml")
    models = sizes["EncoderFunction"]["EncoderModelsLayer"]
    assert models == sum(f.stat().st_size for f in (project / ".faasflow" / "models" / TINY).iterdir())
    check_package_sizes(project, "template.yaml")  # the tiny model fits
    others = sum(size for part, size in sizes["EncoderFunction"].items() if part != "OnnxLayer")
    fake_build(project, {"OnnxLayer": LAMBDA_UNZIPPED_LIMIT - others})
    check_package_sizes(project, "template.yaml")  # exactly at the limit is allowed
    fake_build(project, {"OnnxLayer": LAMBDA_UNZIPPED_LIMIT - others + 1})
    with pytest.raises(PackageTooLarge, match=r"function EncoderFunction is 262\.1 MB unzipped with its layers "
                                              r"\(OnnxLayer 26\d\.\d MB, .*\), over Lambda's limit of 262\.1 MB; "
                                              r"package its executor as an image") as refused:
        check_package_sizes(project, "template.yaml")
    assert refused.value.total == LAMBDA_UNZIPPED_LIMIT + 1 and refused.value.function == "EncoderFunction"


def test_a_hand_written_template_with_short_form_intrinsics_is_measured(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "Resources:\n"
        "  Deps:\n    Type: AWS::Serverless::LayerVersion\n    Properties: {ContentUri: deps/}\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: src/\n"
        "      Layers: [!Ref Deps, !Sub 'arn:aws:lambda:${AWS::Region}:1:layer:x:1']\n"
        "      Environment: {Variables: {A: !GetAtt Deps.Arn}}\n")
    fake_build(tmp_path, {"Fn": 10, "Deps": 20})
    assert zip_package_sizes(tmp_path, "template.yaml") == {"Fn": {"Fn": 10, "Deps": 20}}
