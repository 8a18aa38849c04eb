"""`runtime:` under the Flow's `with:`: the functions' Lambda runtime, the layers built for it,
and the emulator and `sam build` on its interpreter."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from faasflow import Flow, FlowConfigError
from faasflow.compiler.decide import decide
from faasflow.compiler.pins import GENERATED_MARK, RUNTIME_LAYER_FILE, layer_requirements, runtime_pins
from faasflow.compiler.sam import render_sam
from faasflow.deploy.layers import write
from faasflow.deploy.sam import template_runtimes
from faasflow.runtimes import DEFAULT_RUNTIME, RUNTIMES

ROOT = Path(__file__).resolve().parents[2]
ASL = "orchestrator/x.asl.json"
FLOW = """
jtype: Flow
with:
  name: rt
  {runtime}
executors:
  - name: tok
    uses: functions.featurizer.Featurizer
  - name: db
    uses: functions.doc_store.DocStore
    shards: 2
"""


def load(runtime_line: str) -> Flow:
    flow = Flow.load_config(yaml.safe_load(FLOW.format(runtime=runtime_line)))
    flow.base_dir = ROOT
    return flow


def test_the_default_is_python3_13() -> None:
    assert DEFAULT_RUNTIME == "python3.13"
    assert load("").plan.runtime == "python3.13"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_function_and_layer_names_the_flows_runtime(runtime: str) -> None:
    template = render_sam(decide(load(f"runtime: {runtime}").plan, ROOT, ASL))
    assert template["Globals"]["Function"]["Runtime"] == runtime
    layers = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion"]
    assert layers and all(layer["Properties"]["CompatibleRuntimes"] == [runtime] for layer in layers)
    built = [layer["Metadata"]["BuildMethod"] for layer in layers if "Metadata" in layer]
    assert built and set(built) == {runtime}  # sam build installs each layer for that interpreter
    assert template_runtimes(yaml.safe_dump(template)) == [runtime]


@pytest.mark.parametrize("value", ["python3.9", "python3.14", "3.13", 3.13, "", None])
def test_a_runtime_lambda_does_not_offer_is_refused_by_name(value: object) -> None:
    with pytest.raises(FlowConfigError, match=r"field 'runtime': runtime must be one of python3\.11, python3\.12, "
                                              r"python3\.13, got"):
        Flow(name="x", runtime=value).add(name="a").build()  # type: ignore[arg-type]


def test_numpy_is_current_on_amazon_linux_2023_and_held_back_only_on_python3_11() -> None:
    assert "numpy==2.2.6" in runtime_pins("python3.11")  # Amazon Linux 2: glibc 2.26
    for runtime in ("python3.12", "python3.13"):
        numpy = next(pin for pin in runtime_pins(runtime) if pin.startswith("numpy=="))
        major, minor = (int(part) for part in numpy.removeprefix("numpy==").split(".")[:2])
        assert (major, minor) >= (2, 5)


def test_the_layers_requirements_follow_the_runtime_unless_the_user_took_them_over(tmp_path: Path) -> None:
    write(load("runtime: python3.11").plan, tmp_path)
    layer = tmp_path / RUNTIME_LAYER_FILE
    assert layer.read_text() == layer_requirements("python3.11")[RUNTIME_LAYER_FILE]
    write(load("runtime: python3.13").plan, tmp_path)  # a generated file is rewritten for the new runtime
    assert "numpy==2.5.5" in layer.read_text() and "python3.13" in layer.read_text().splitlines()[0]
    own = "numpy==2.5.5\nscikit-learn==1.7.2\n"
    layer.write_text(own)  # the mark line deleted: the user's file now
    write(load("runtime: python3.12").plan, tmp_path)
    assert layer.read_text() == own and not own.startswith(GENERATED_MARK)


def test_the_runtime_is_written_back_to_yaml_only_when_not_the_default(tmp_path: Path) -> None:
    flow = load("runtime: python3.12")
    flow.save_config(str(tmp_path / "flow.yml"))
    assert yaml.safe_load((tmp_path / "flow.yml").read_text())["with"]["runtime"] == "python3.12"
    assert Flow.load_config(tmp_path / "flow.yml").plan.runtime == "python3.12"
    load("").save_config(str(tmp_path / "default.yml"))
    assert "runtime" not in yaml.safe_load((tmp_path / "default.yml").read_text())["with"]
