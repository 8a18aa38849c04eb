"""``deployed_flow``: a project's Flow deployed with the SAM CLI, as a ``faasflow.Client``.

Plan, then act: ``FlowTarget`` says what is deployed where (Flow file, project folder,
template, stack name), ``Deployments`` does it once per Flow file per session and undoes it
at the end where the session owns the account's stacks (``--faasflow-aws``).

A reset emulator has lost every stack. A ``DeployedFlow`` notices (the emulator's
``generation`` moved on) the next time it is used, and deploys again from the same build
(``sam build --cached``): tests of a later module find the Flow deployed, empty.
"""

from __future__ import annotations

import re
import secrets
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faasflow.client import Client
from faasflow.testing.emulators import Emulator
from faasflow.testing.settings import KIND_AWS, KIND_MINISTACK

if TYPE_CHECKING:
    import httpx

    from faasflow.client.retry import BackoffSpec
    from faasflow.flow import Flow

STACK_TAG = "pytest"  # in the name of every stack a --faasflow-aws session makes: a leftover says what it is
UNUSABLE_STACK = re.compile(r"(_IN_PROGRESS|_FAILED|^ROLLBACK_COMPLETE)$")


class DeploymentError(RuntimeError):
    """The Flow could not be loaded or deployed; the message is the whole report."""


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def project_of(flow_file: Path, base_dir: Path) -> Path:
    """The project a Flow file belongs to: the folder above ``orchestrator/``, else ``base_dir``."""
    from faasflow.commands.common import ORCHESTRATOR

    return flow_file.parent.parent if flow_file.parent.name == ORCHESTRATOR else base_dir


def load_flow(flow_file: Path, project: Path) -> Flow:
    """The Flow in ``flow_file``, validated, or a DeploymentError of one line naming the file."""
    from faasflow.commands.common import load_flow as load

    if not flow_file.is_file():
        raise DeploymentError(f"{flow_file}: no such Flow file" if not flow_file.exists()
                              else f"{flow_file}: not a file")
    if str(project) not in sys.path:
        sys.path.append(str(project))  # the executors' packages (functions/) import from the project
    try:
        return load(str(flow_file))
    except Exception as exc:  # noqa: BLE001 - any failure to load is the file's problem, reported as one line
        raise DeploymentError(f"{flow_file}: {problem(exc)}") from exc


def problem(exc: BaseException) -> str:
    """One line: faasflow's own errors say what is wrong; others are named by their type."""
    from faasflow.errors import FaasflowError

    return one_line(exc) if isinstance(exc, FaasflowError) else f"{type(exc).__name__}: {one_line(exc)}"


@dataclass(frozen=True)
class FlowTarget:
    """What to deploy, and as which stack: a plain description, decided before anything runs."""

    flow_file: Path
    project: Path
    template: str
    stack_name: str


def unusable_stack_report(cloudformation: Any, stack_name: str) -> str | None:
    """Why an existing stack of this name cannot be deployed over, with the command that
    removes it; None when there is no such stack or it can be updated."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # noqa: BLE001 - botocore's ClientError: "does not exist" is the usual answer
        if "does not exist" in str(exc):
            return None
        raise
    if not stacks:
        return None
    stack = stacks[0]
    status = stack.get("StackStatus", "")
    if not UNUSABLE_STACK.search(status):
        return None
    reason = stack.get("StackStatusReason") or _failed_event_reason(cloudformation, stack_name) or "no reason given"
    return (f"stack {stack_name!r} already exists in state {status} ({one_line(reason)}), probably left over from "
            f"an interrupted test session; remove it with `sam delete --stack-name {stack_name}` and run again")


def _failed_event_reason(cloudformation: Any, stack_name: str) -> str | None:
    try:
        events = cloudformation.describe_stack_events(StackName=stack_name).get("StackEvents", [])
    except Exception:  # noqa: BLE001 - the reason is a nicety; the status is the report
        return None
    for event in events:
        if event.get("ResourceStatus", "").endswith("FAILED") and event.get("ResourceStatusReason"):
            return f"{event.get('LogicalResourceId')}: {event['ResourceStatusReason']}"
    return None


def stack_exists(cloudformation: Any, stack_name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # noqa: BLE001
        if "does not exist" in str(exc):
            return False
        raise
    return bool(stacks) and stacks[0].get("StackStatus") != "DELETE_COMPLETE"


class DeployedFlow(Client):
    """A Flow deployed for the tests: ``post`` (and Jina's shortcuts) as ``Flow.post``.

    ``outputs``, ``bucket``, ``state_machine_arn``, ``batch_state_machine_arn`` and
    ``function_names`` describe the stack; ``flow`` is the same Flow, embedded and not
    started; ``index_file`` runs the deployed batch indexing. After the emulator was reset
    the stack is deployed again on first use, and the API's URL follows it."""

    def __init__(self, target: FlowTarget, flow: Flow, emulator: Emulator, timeout: float = 120.0) -> None:
        self.target = target
        self.flow = flow
        self.emulator = emulator
        self._timeout = timeout
        self._outputs: dict[str, str] = {}
        self._generation = -1
        self._deploying = threading.Lock()  # posts from several threads after a reset: one redeploy
        self._redeploy()

    # --- the stack ---

    @property
    def stack_name(self) -> str:
        return self.target.stack_name

    @property
    def outputs(self) -> dict[str, str]:
        self._ensure_current()
        return dict(self._outputs)

    @property
    def bucket(self) -> str:
        return self.outputs["BucketName"]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    @property
    def batch_state_machine_arn(self) -> str:
        return self.outputs["BatchStateMachineArn"]

    @property
    def function_names(self) -> dict[str, str]:
        """Every ``<Name>FunctionName`` output as ``{Name: function name}``."""
        return {key.removesuffix("FunctionName"): value for key, value in self.outputs.items()
                if key.endswith("FunctionName")}

    def index_file(self, path: str | Path, key: str | None = None, timeout_s: float = 300) -> dict[str, Any]:
        """Upload a JSON-lines file under ``incoming/`` of the Flow's bucket (``key``, default
        the file's name), wait for the batch indexing run it starts, and return its summary."""
        from faasflow.testing.batch_runs import index_uploaded_file

        outputs = self.outputs
        return index_uploaded_file(self.emulator.client("s3"), self.emulator.client("stepfunctions"),
                                   outputs["BucketName"], outputs["BatchStateMachineArn"], path, key, timeout_s)

    # --- staying deployed across resets ---

    def _ensure_current(self) -> None:
        if self._generation == self.emulator.generation:
            return
        with self._deploying:
            if self._generation == self.emulator.generation:
                return
            if stack_exists(self.emulator.client("cloudformation"), self.stack_name):
                self._generation = self.emulator.generation
            else:
                self._redeploy()

    def _redeploy(self) -> None:
        generation = self.emulator.generation
        self._outputs = deploy_stack(self.target, self.emulator)
        self._generation = generation
        self._bind(self._outputs.get("ApiUrlLocal") or self._outputs["ApiUrl"])

    def _bind(self, url: str) -> None:
        old = self.__dict__.get("_http")
        return_responses = getattr(self, "return_responses", False)
        auth = "iam" if self.flow.plan.auth == "iam" else None
        api_key = _api_key(self.emulator, self.stack_name) if self.flow.plan.auth == "api_key" else None
        Client.__init__(self, url, timeout=self._timeout, auth=auth, api_key=api_key,
                        aws_region=self.emulator.region)
        self.return_responses = return_responses
        if old is not None:
            old.close()

    def _request(self, method: str, path: str, body: bytes | None, request_id: str, max_attempts: int,
                 backoff: BackoffSpec) -> httpx.Response:
        self._ensure_current()  # every post and status call goes through here
        return super()._request(method, path, body, request_id, max_attempts, backoff)


def _api_key(emulator: Emulator, stack_name: str) -> str | None:
    """The value of the API key SAM made for a Flow with ``auth: api_key``."""
    resources = emulator.client("cloudformation").describe_stack_resources(StackName=stack_name)["StackResources"]
    for resource in resources:
        if resource["ResourceType"] == "AWS::ApiGateway::ApiKey":
            answer = emulator.client("apigateway").get_api_key(apiKey=resource["PhysicalResourceId"],
                                                               includeValue=True)
            value = answer.get("value")
            return str(value) if value else None
    return None


def deploy_stack(target: FlowTarget, emulator: Emulator) -> dict[str, str]:
    """``sam build`` (cached) and ``sam deploy`` of the target; its stack outputs."""
    from faasflow.deploy.sam import deploy

    return deploy(target.project, target.stack_name, endpoint_url=emulator.endpoint_url, region=emulator.region,
                  template=target.template, emulate_images=emulator.kind == KIND_MINISTACK)


class Deployments:
    """The session's deployed Flows, one per Flow file; deletes the stacks it made on AWS."""

    def __init__(self, emulator: Emulator, base_dir: Path, default_flow: Path) -> None:
        self.emulator = emulator
        self.base_dir = base_dir
        self.default_flow = default_flow
        self._deployed: dict[Path, DeployedFlow | Exception] = {}
        self._names: set[str] = set()
        self.made: list[str] = []  # stacks this session created (deleted at the end on AWS)

    def plan(self, flow_file: Path, flow: Flow) -> FlowTarget:
        """Template and stack name for ``flow_file``: the project's default Flow gets the
        project's ``template.yaml`` (as ``faasflow deploy`` would), any other its own."""
        project = project_of(flow_file, self.base_dir)
        from faasflow.compiler.layout import DEFAULT_TEMPLATE
        from faasflow.deploy.sam import stack_name_for

        base = stack_name_for(flow.name)
        template = DEFAULT_TEMPLATE if flow_file == self.default_flow else f"template-{base}.yaml"
        name = base
        if self.emulator.kind == KIND_AWS:
            name = f"{base}-{STACK_TAG}-{secrets.token_hex(3)}"  # parallel CI runs do not collide
        while name in self._names:
            name = f"{name}-{len(self._names) + 1}"
        return FlowTarget(flow_file, project, template, name)

    def get(self, flow_file: Path) -> DeployedFlow:
        """The deployed Flow of ``flow_file``, deploying it on first use; a failure is kept
        and raised again for every test that asks, without a second attempt."""
        known = self._deployed.get(flow_file)
        if isinstance(known, Exception):
            raise known
        if known is not None:
            return known
        try:
            deployed = self._deploy(flow_file)
        except Exception as exc:
            self._deployed[flow_file] = exc
            raise
        self._deployed[flow_file] = deployed
        return deployed

    def _deploy(self, flow_file: Path) -> DeployedFlow:
        from faasflow.deploy.layers import write
        from faasflow.deploy.sam import DeployError

        project = project_of(flow_file, self.base_dir)
        flow = load_flow(flow_file, project)
        self._check_runtime(flow_file, flow)
        target = self.plan(flow_file, flow)
        try:
            write(flow.plan, target.project, target.template)
        except Exception as exc:  # noqa: BLE001 - a Flow that does not compile: one line naming the file
            raise DeploymentError(f"{flow_file}: {problem(exc)}") from exc
        self._names.add(target.stack_name)
        try:
            report = unusable_stack_report(self.emulator.client("cloudformation"), target.stack_name)
        except Exception as exc:  # noqa: BLE001 - nothing answers, or refuses the credentials
            where = self.emulator.endpoint_url or f"AWS ({self.emulator.region})"
            raise DeploymentError(f"cannot deploy {flow_file}: asking {where} about stack {target.stack_name!r} "
                                  f"failed: {problem(exc)}") from exc
        if report:  # not ours: reported, never deleted
            raise DeploymentError(report)
        if self.emulator.kind == KIND_AWS:
            self.made.append(target.stack_name)
        try:
            return DeployedFlow(target, flow, self.emulator)
        except (DeployError, FileNotFoundError) as exc:  # FileNotFoundError: a file the build needs is missing
            message = f"deploying {flow_file} as stack {target.stack_name!r} failed: {exc}"
            if self.emulator.kind == KIND_AWS:
                message += "\n" + self._delete(target.stack_name)
            raise DeploymentError(message) from exc

    def _check_runtime(self, flow_file: Path, flow: Flow) -> None:
        runtime = getattr(self.emulator, "runtime", None)
        if runtime is not None and flow.plan.runtime != runtime:
            warnings.warn(f"{flow_file} runs on {flow.plan.runtime} but the session's emulator runs handlers on "
                          f"{runtime} (the runtime of {self.default_flow}): compiled wheels may not import",
                          stacklevel=2)

    def _delete(self, stack_name: str) -> str:
        from faasflow.deploy.sam import DeployError, delete

        try:
            delete(stack_name, self.emulator.endpoint_url, self.emulator.region)
        except DeployError as exc:
            return (f"deleting stack {stack_name!r} failed too; remove it with `sam delete --stack-name "
                    f"{stack_name} --region {self.emulator.region}`: {exc}")
        if stack_name in self.made:
            self.made.remove(stack_name)
        return f"stack {stack_name!r} was deleted"

    def close(self) -> list[str]:
        """Delete the stacks this session made on AWS (an emulator's go with it); what
        could not be deleted, each with the command that will."""
        for deployed in self._deployed.values():
            if isinstance(deployed, DeployedFlow):
                deployed.close()
        problems = []
        for stack_name in list(self.made):
            outcome = self._delete(stack_name)
            if not outcome.endswith("was deleted"):
                problems.append(outcome)
        return problems
