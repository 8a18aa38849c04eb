"""Write a compiled Flow into a project and stage the faasflow layer ``sam build`` packages.

The layer carries what runs inside Lambda: the core, ``faasflow.runtime``, the gateway app
(``faasflow.serve``) and faasflow's own executors. The compiler, the deploy tools, the
CLI and the testing helpers run on the developer's machine and stay out of it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from faasflow.compiler.artefacts import artefacts
from faasflow.compiler.decide import zip_onnx_executors
from faasflow.compiler.images import MODEL_CACHE, layer_models
from faasflow.compiler.layout import (
    DEFAULT_TEMPLATE,
    FAASFLOW_LAYER_DIR,
    LAYER_ONLY_CODE_DIR,
    MODELS_IN_LAYER,
    models_layer_dir,
)
from faasflow.compiler.pins import GENERATED_MARK, layer_requirements
from faasflow.executors.model_files import DEFAULT_MODEL
from faasflow.plan import ExecutorSpec, Plan
from faasflow.runtimes import DEFAULT_RUNTIME

# What of the faasflow package never runs in a function.
NOT_IN_LAYER = ("compiler", "deploy", "commands", "testing", "cost", "cli.py", "__main__.py", "scaffold.py")


def stage_layers(project: Path, runtime: str = DEFAULT_RUNTIME, onnx: bool = False) -> None:
    """Copy the run-time part of the faasflow package into the layer folder SAM packages,
    give the functions that are all layer (the gateway, faasflow's own executors) their
    (empty) code folder, and write the layers' requirements for ``runtime`` (where missing,
    or generated before: a file the user took over is kept); ``onnx``: the ONNX layer's too."""
    import faasflow

    source = Path(faasflow.__file__).resolve().parent
    target = project / FAASFLOW_LAYER_DIR / "python" / "faasflow"
    if target.exists():
        shutil.rmtree(target)
    compiled = shutil.ignore_patterns("__pycache__", "*.pyc")

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(compiled(folder, names))
        return skipped | (set(NOT_IN_LAYER) & set(names)) if Path(folder) == source else skipped

    shutil.copytree(source, target, ignore=ignore)
    layer_only = project / LAYER_ONLY_CODE_DIR
    layer_only.mkdir(parents=True, exist_ok=True)
    (layer_only / "README.txt").write_text("This function's code is in the faasflow layer.\n")
    for path, text in layer_requirements(runtime, onnx).items():
        file = project / path
        if not file.exists() or file.read_text().startswith(GENERATED_MARK):
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text)


def write(plan: Plan, project: Path, template: str = DEFAULT_TEMPLATE) -> list[Path]:
    """Write the template and the state machines, and stage the layers; returns the files."""
    written = []
    for path, text in artefacts(plan, project, template).files.items():
        target = project / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    onnx_executors = zip_onnx_executors(plan)
    stage_layers(project, plan.runtime, onnx=bool(onnx_executors))
    for spec in onnx_executors:
        stage_models(project, spec)
    return written


def _link_or_copy(source: str, target: str) -> None:
    """A hard link where the file system allows (a model is tens of MB), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage_models(project: Path, spec: ExecutorSpec) -> None:
    """The models layer of a zip-packaged ONNX executor: its models, from the project's model
    cache, under ``python/faasflow_models/<name>`` (on the function's import path)."""
    root = project / models_layer_dir(spec.name)
    shutil.rmtree(root, ignore_errors=True)
    for name in layer_models(spec):
        source = project / MODEL_CACHE / name
        if not (source / "model.onnx").is_file():
            raise FileNotFoundError(f"executor {spec.name!r}: model {name!r} is not in the model cache "
                                    f"{source.parent} (`make model` exports {DEFAULT_MODEL})")
        shutil.copytree(source, root / MODELS_IN_LAYER / name, copy_function=_link_or_copy)
