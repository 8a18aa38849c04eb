"""Build, validate, deploy and delete a SAM project with the SAM CLI.

Which ``sam`` runs: ``$FAASFLOW_SAM`` when set (a path, or a bare name looked up
on PATH, e.g. ``FAASFLOW_SAM=sam`` to use the one installed system-wide);
otherwise the pinned one in ``.tools/sam`` (created on first use). A ``sam`` that
happens to be on PATH is not picked up by itself: deploys should not change
behaviour with whatever SAM version a machine carries.

With ``endpoint_url`` (MiniStack, LocalStack) the SAM CLI and boto3 get that
endpoint and dummy credentials; without it they use the ambient AWS credentials.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from faasflow.aws import DUMMY_CREDENTIALS
from faasflow.compiler.layout import DEFAULT_TEMPLATE
from faasflow.deploy.template_file import read_template
from faasflow.errors import FaasflowError

DEFAULT_REGION = "us-east-1"
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")


class DeployError(RuntimeError):
    """A SAM CLI command failed; carries the command and the tail of its output."""

    def __init__(self, command: Sequence[str], returncode: int | None, output: str, tail_lines: int = 60) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.rstrip().splitlines()[-tail_lines:])
        status = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"{' '.join(self.command)} {status}:\n{tail}")


def sam_command() -> list[str]:
    """The ``sam`` to run (see the module docstring for the choice)."""
    override = os.environ.get("FAASFLOW_SAM")
    if override:
        found = shutil.which(override)
        if not found:
            raise DeployError([override], 127, f"FAASFLOW_SAM={override!r} is not an executable")
        return [found]
    from faasflow.deploy.tools import sam_executable

    return [str(sam_executable())]


RUNTIME_PATTERN = re.compile(r"^\s*-?\s*Runtime:\s*(python3\.\d+)\s*$", re.MULTILINE)


def template_runtimes(template_text: str) -> list[str]:
    """The Lambda Python runtimes a template's functions and layers name."""
    return sorted(set(RUNTIME_PATTERN.findall(template_text)) | set(re.findall(r"BuildMethod:\s*(python3\.\d+)",
                                                                               template_text)))


def _environment(sam: str, endpoint_url: str | None, region: str, runtimes: Sequence[str] = ()) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION=region, AWS_REGION=region)
    # `sam build` looks for each runtime's interpreter (python3.13) on PATH and installs the
    # layers with its pip. A pyenv shim for a version that is not selected is found but
    # fails, so the real interpreters' folders go first.
    from faasflow.deploy.tools import runtime_bin_dir

    interpreters = [str(runtime_bin_dir(runtime)) for runtime in runtimes]
    env["PATH"] = os.pathsep.join([str(Path(sam).parent), *interpreters, env.get("PATH", "")])
    if endpoint_url:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            env.pop(key, None)
        env.update(DUMMY_CREDENTIALS, AWS_ENDPOINT_URL=endpoint_url)
        env["SAM_CLI_POLL_DELAY"] = "0.2"  # an emulator finishes in seconds; AWS throttles fast polls
    return env


def _run(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    echo: bool,
) -> str:
    """Run ``sam ARGS``, capturing (and with ``echo`` also streaming) its output."""
    cmd = [*sam_command(), *args]
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    lines: list[str] = []

    def pump() -> None:  # a thread, so a silent hang still hits the timeout
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if echo:
                sys.stderr.write(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        returncode: int | None = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        returncode = None
    reader.join(timeout=5)
    output = "".join(lines)
    if returncode != 0:
        raise DeployError(cmd, returncode, output)
    return output


def stack_name_for(flow_name: str) -> str:
    """The stack name a Flow deploys as by default: lower case, as it is part of the bucket's name."""
    return (re.sub(r"[^A-Za-z0-9-]+", "-", flow_name).strip("-") or "faasflow").lower()


def build_dir(template: str) -> str:
    """Where ``sam build`` puts a template's build: one folder per template, so a project's
    Flows (and an emulator's stand-in template) do not overwrite each other's builds."""
    if template == DEFAULT_TEMPLATE:
        return ".aws-sam/build"
    stem = re.sub(r"[^0-9A-Za-z]+", "-", template.removesuffix(".yaml").removesuffix(".yml")).strip("-")
    return f".aws-sam/build-{stem}"


def build(
    project_dir: Path,
    *,
    template: str = DEFAULT_TEMPLATE,
    timeout_s: float = 900,
    echo: bool = False,
    env: Mapping[str, str] | None = None,
) -> str:
    """``sam build`` of ``template``, cached; retried once from scratch, as a stale cache can break it."""
    if env is None:
        runtimes = template_runtimes((Path(project_dir) / template).read_text())
        env = _environment(sam_command()[0], None, DEFAULT_REGION, runtimes)
    target = build_dir(template)
    cache = target.replace("/build", "/cache", 1)
    args = ["build", "--template-file", template, "--build-dir", target, "--cache-dir", cache, "--parallel"]
    try:
        return _run([*args, "--cached"], project_dir, env, timeout_s, echo)
    except DeployError as first:
        if first.returncode is None:
            raise
        shutil.rmtree(project_dir / cache, ignore_errors=True)
        return _run(args, project_dir, env, timeout_s, echo)


LAMBDA_UNZIPPED_LIMIT = 262_144_000  # 250 MB: a zip function's code and all its layers, unzipped


class PackageTooLarge(FaasflowError):
    """A zip function with its layers is over Lambda's unzipped limit: found after ``sam build``,
    before anything is deployed."""

    def __init__(self, function: str, total: int, parts: Mapping[str, int]) -> None:
        biggest = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sorted(parts.items(), key=lambda p: -p[1]))
        super().__init__(f"function {function} is {total / 1e6:.1f} MB unzipped with its layers ({biggest}), over "
                         f"Lambda's limit of {LAMBDA_UNZIPPED_LIMIT / 1e6:.1f} MB; package its executor as an image "
                         "(package: image) or make it smaller (a smaller model, fewer dependencies)")
        self.function, self.total, self.parts = function, total, dict(parts)


def _tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def zip_package_sizes(project_dir: Path, template: str, built_template: str | None = None) -> dict[str, dict[str, int]]:
    """Each zip function of ``template``: the unzipped size of its built code and of each of
    its layers (``built_template``: the template ``sam build`` built, when it stood in for it)."""
    project_dir = Path(project_dir)
    resources = read_template((project_dir / template).read_text())["Resources"]
    built = project_dir / build_dir(built_template or template)
    sizes: dict[str, dict[str, int]] = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::Serverless::Function" or properties.get("PackageType") == "Image":
            continue
        parts = {logical_id: _tree_size(built / logical_id)}
        for layer in properties.get("Layers", []):
            layer_id = layer.get("Ref") if isinstance(layer, dict) else None
            if layer_id is None:
                continue  # a layer of another stack, by ARN: not ours to measure
            content = built / layer_id
            if not content.is_dir():  # not built by `sam build`: packaged as it lies
                content = project_dir / resources[layer_id]["Properties"]["ContentUri"]
            parts[layer_id] = _tree_size(content)
        sizes[logical_id] = parts
    return sizes


def check_package_sizes(project_dir: Path, template: str, built_template: str | None = None) -> None:
    """Refuse, naming the function and what fills it, a zip function over the unzipped limit."""
    for function, parts in zip_package_sizes(project_dir, template, built_template).items():
        total = sum(parts.values())
        if total > LAMBDA_UNZIPPED_LIMIT:
            raise PackageTooLarge(function, total, parts)


def stack_outputs(stack_name: str, endpoint_url: str | None = None, region: str = DEFAULT_REGION) -> dict[str, str]:
    """The stack's Outputs as ``{OutputKey: OutputValue}``."""
    stack = _cloudformation(endpoint_url, region).describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def deploy(
    project_dir: Path,
    stack_name: str,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    *,
    parameters: Mapping[str, str] | None = None,
    template: str = DEFAULT_TEMPLATE,
    emulate_images: bool = False,
    timeout_s: float = 900,
    echo: bool = False,
) -> dict[str, str]:
    """Build and deploy ``project_dir/<template>``; return the stack Outputs.

    With ``endpoint_url`` and an ``ApiId`` output, ``ApiUrlLocal`` is added: the
    emulator's path-form execute-api URL, which needs no wildcard DNS. ``emulate_images``
    (an emulator without Docker that runs handlers on this machine, such as MiniStack)
    deploys each image function as a zip function standing in for its image
    (``faasflow.deploy.stand_ins``).
    """
    project_dir = Path(project_dir).resolve()
    runtimes = template_runtimes((project_dir / template).read_text())
    env = _environment(sam_command()[0], endpoint_url, region, runtimes)
    source_template = template
    if endpoint_url:  # an emulator: MiniStack has no CodeDeploy
        from faasflow.deploy.no_codedeploy import without_traffic_shifting

        template = without_traffic_shifting(project_dir, template)
    if emulate_images:
        if not endpoint_url:
            raise ValueError("emulate_images is for an emulator (give endpoint_url): AWS runs the images themselves")
        from faasflow.deploy.stand_ins import stand_in_template

        template = stand_in_template(project_dir, template)
    build(project_dir, template=template, timeout_s=timeout_s, echo=echo, env=env)
    check_package_sizes(project_dir, source_template, template)
    args = [
        "deploy",
        "--template-file", f"{build_dir(template)}/template.yaml",
        "--stack-name", stack_name,
        "--resolve-s3",
        "--capabilities", *CAPABILITIES,
        "--no-confirm-changeset",
        "--no-fail-on-empty-changeset",
        "--region", region,
        "--no-progressbar",
    ]  # fmt: skip
    if "PackageType: Image" in (project_dir / template).read_text():
        args.append("--resolve-image-repos")  # an ECR repository per image function, made by SAM
    if parameters:
        args += ["--parameter-overrides", *(f"{key}={value}" for key, value in parameters.items())]
    _run(args, project_dir, env, timeout_s, echo)
    outputs = stack_outputs(stack_name, endpoint_url, region)
    if endpoint_url and "ApiId" in outputs:
        outputs["ApiUrlLocal"] = f"{endpoint_url.rstrip('/')}/_aws/execute-api/{outputs['ApiId']}/Prod"
    return outputs


def validate(project_dir: Path, *, template: str = DEFAULT_TEMPLATE, timeout_s: float = 300) -> str:
    """``sam validate --lint`` of ``template`` (cfn-lint, offline); returns its output, raises on findings."""
    project_dir = Path(project_dir).resolve()
    env = _environment(sam_command()[0], None, DEFAULT_REGION)
    for key, value in DUMMY_CREDENTIALS.items():
        env.setdefault(key, value)
    args = ["validate", "--lint", "--template-file", template, "--region", DEFAULT_REGION]
    return _run(args, project_dir, env, timeout_s, False)


def delete(
    stack_name: str,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    *,
    timeout_s: float = 600,
    echo: bool = False,
) -> str:
    """``sam delete`` the stack and its uploaded artifacts, without prompting."""
    env = _environment(sam_command()[0], endpoint_url, region)
    args = ["delete", "--stack-name", stack_name, "--region", region, "--no-prompts"]
    return _run(args, Path.cwd(), env, timeout_s, echo)


def _cloudformation(endpoint_url: str | None, region: str) -> Any:
    from faasflow.aws import aws_client

    return aws_client("cloudformation", endpoint_url, region, dummy_credentials=bool(endpoint_url))
