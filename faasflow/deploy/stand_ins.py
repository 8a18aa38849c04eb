"""Container-image functions on an emulator that has no Docker engine (MiniStack).

MiniStack runs a zip function's handler as a process on this machine, but an image
function needs Docker. ``stand_in_template`` writes a copy of a built template in which
each image function is a zip function standing in for its image:

* the image is rehearsed (``faasflow.deploy.rehearsal``): its Dockerfile's COPY lines laid
  out in a folder; the image's task root becomes the function's code and its CMD the
  handler;
* its ENV lines become the function's environment (the function's own variables win, as
  on Lambda); image folders outside the task root (the baked models) are read where the
  rehearsal put them, since the emulator runs the handler on this machine;
* the image's generated requirements are installed for the emulator's Python
  (``.tools/image-<kind>-emulated``) and put on ``PYTHONPATH``, in place of layers.

Every other resource is as built. So on the emulator the state machine, payloads and
S3 state around the function are the real ones, and the function runs the image's files
and pins. What the stand-in cannot check is the base image itself and the image size.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from faasflow.compiler import images
from faasflow.compiler.layout import DEFAULT_TEMPLATE
from faasflow.deploy.rehearsal import BASE_ENTRYPOINT, image_env, rehearse, site_packages
from faasflow.deploy.tools import ministack_executable
from faasflow.runtimes import DEFAULT_RUNTIME

EMULATED_DIR = ".faasflow/emulated"
PATH_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")  # relative to the template's folder
IMAGE_ONLY_PROPERTIES = ("PackageType", "ImageUri", "ImageConfig")


def emulator_python(runtime: str = DEFAULT_RUNTIME) -> str:
    """The interpreter MiniStack runs ``runtime``'s Python handlers on: its own."""
    return str(ministack_executable(runtime).with_name("python"))


@dataclass(frozen=True)
class StandIn:
    """What a zip function takes from the image it stands in for."""

    code_uri: str
    handler: str
    environment: dict[str, str]


def lay_out(dockerfile: Path, context: Path, folder: Path, python: str, runtime: str = DEFAULT_RUNTIME) -> StandIn:
    """Rehearse the image into ``folder`` and install its requirements for ``python``."""
    rehearsal = rehearse(dockerfile, context, folder)
    if rehearsal.base != images.LAMBDA_BASE:
        raise ValueError(f"{dockerfile}: only Lambda images (package='image') have a zip stand-in")
    if rehearsal.entrypoint != BASE_ENTRYPOINT[images.LAMBDA_BASE] or len(rehearsal.cmd) != 1:
        raise ValueError(f"{dockerfile}: a Lambda image's command is one handler, got {rehearsal.cmd}")
    environment = {k: v for k, v in rehearsal.env.items() if k != "LAMBDA_TASK_ROOT"}
    venv = image_env("lambda", python, "image-lambda-emulated", runtime)
    environment["PYTHONPATH"] = str(site_packages(venv))
    return StandIn(str(rehearsal.path("/var/task")), rehearsal.cmd[0], environment)


def _relocate(properties: dict[str, Any], project: Path, target: Path) -> None:
    """Paths relative to the project made relative to the stand-in template's folder."""
    for key in PATH_PROPERTIES:
        value = properties.get(key)
        if isinstance(value, str) and "://" not in value:
            path = Path(value) if Path(value).is_absolute() else project / value
            properties[key] = os.path.relpath(path, target)


def stand_in_template(project: Path, template: str = DEFAULT_TEMPLATE, python: str | None = None) -> str:
    """Write ``.faasflow/emulated/<template>`` with zip stand-ins for the image functions;
    returns its path relative to ``project`` (a template without images comes back as is)."""
    project = Path(project).resolve()
    data = yaml.safe_load((project / template).read_text())
    resources = data["Resources"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    image_ids = [k for k, r in functions.items() if r["Properties"].get("PackageType") == "Image"]
    if not image_ids:
        return template
    zip_runtimes = {r["Properties"].get("Runtime") for k, r in functions.items() if k not in image_ids} - {None}
    runtime = zip_runtimes.pop() if len(zip_runtimes) == 1 else f"python{images.IMAGE_PYTHON}"
    root = project / EMULATED_DIR / Path(template).stem
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    python = python or emulator_python(runtime)
    stand_ins: dict[Path, StandIn] = {}  # one per Dockerfile: it serves all the executor's shards
    for logical_id in image_ids:
        resource = resources[logical_id]
        dockerfile = project / resource["Metadata"]["Dockerfile"]
        if dockerfile not in stand_ins:
            context = project / resource["Metadata"].get("DockerContext", ".")
            stand_ins[dockerfile] = lay_out(dockerfile, context, root / dockerfile.stem, python, runtime)
        stand_in = stand_ins[dockerfile]
        properties = {k: v for k, v in resource["Properties"].items() if k not in IMAGE_ONLY_PROPERTIES}
        properties.update(CodeUri=stand_in.code_uri, Handler=stand_in.handler, Runtime=runtime)
        own = resource["Properties"].get("Environment", {}).get("Variables", {})
        properties["Environment"] = {"Variables": {**stand_in.environment, **own}}  # as on Lambda: the function's win
        resources[logical_id] = {"Type": resource["Type"], "Properties": properties}
    for resource in resources.values():
        _relocate(resource.get("Properties", {}), project, root)
    path = root / Path(template).name
    path.write_text("# A stand-in for an emulator without Docker (faasflow.deploy.stand_ins): "
                    "image functions run as zip functions.\n" + yaml.safe_dump(data, sort_keys=False, width=120))
    return str(path.relative_to(project))
