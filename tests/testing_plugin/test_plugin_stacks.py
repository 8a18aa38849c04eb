"""The stacks a session makes on AWS, and the ones it finds in its way: real AWS cannot be
reached from the tests, so the SAM CLI's deploy and delete and CloudFormation's answers are
stand-ins here (the same code runs for real against MiniStack in test_plugin_endpoints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from faasflow.deploy.sam import stack_name_for
from faasflow.testing.deployed import unusable_stack_report

pytest_plugins = ["pytester"]

STUBS = '''
import json
import os
from pathlib import Path

import faasflow.deploy.sam as sam
from faasflow.testing import emulators

LOG = Path(os.environ["STUB_LOG"])


def record(*entry):
    with LOG.open("a") as log:
        log.write(json.dumps(entry) + "\\n")


class NoStacks:
    def describe_stacks(self, StackName):
        raise RuntimeError(f"Stack with id {StackName} does not exist")


def client(self, service, **config):
    assert service == "cloudformation", service
    return NoStacks()


def deploy(project, stack, endpoint_url=None, region="us-east-1", **options):
    record("deploy", stack, endpoint_url, region)
    if os.environ.get("FAIL_DEPLOY"):
        raise sam.DeployError(["sam", "deploy"], 1, "Error: Failed to create changeset for the stack: " + stack)
    return {"ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/Prod", "BucketName": stack + "-bucket",
            "GatewayFunctionName": "gateway-fn", "WordsFunctionName": "words-fn"}


def delete(stack, endpoint_url=None, region="us-east-1", **options):
    record("delete", stack, endpoint_url, region)
    if os.environ.get("FAIL_DELETE"):
        raise sam.DeployError(["sam", "delete"], 1, "Error: AccessDenied")


emulators.RealAws.client = client  # no AWS from here: CloudFormation knows no stack
sam.deploy, sam.delete = deploy, delete
'''

USER = '''
def test_passes(deployed_flow):
    assert deployed_flow.emulator.kind == "aws" and deployed_flow.emulator.endpoint_url is None
    prefix, suffix = deployed_flow.stack_name.rsplit("-", 1)
    assert prefix == "tiny-pytest" and len(suffix) == 6  # recognisable, and apart from parallel runs
    assert deployed_flow.url == "https://abc123.execute-api.eu-west-1.amazonaws.com/Prod"
    assert deployed_flow.function_names == {"Gateway": "gateway-fn", "Words": "words-fn"}


def test_fails(deployed_flow):
    assert False, "a test that fails"
'''


@pytest.fixture
def aws_project(pytester: pytest.Pytester, project_files: dict) -> Path:
    for path, text in project_files.items():
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / path).write_text(text)
    pytester.makeconftest(STUBS)
    pytester.makepyfile(test_user=USER)
    return pytester.path


def calls(log: Path) -> list[list[Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_on_aws_the_stack_is_deleted_at_the_end_though_a_test_failed(aws_project: Path, run_pytest):
    log = aws_project / "calls.jsonl"
    result = run_pytest("--faasflow-aws", "--faasflow-region", "eu-west-1", env={"STUB_LOG": str(log)})
    result.assert_outcomes(passed=1, failed=1)
    (deploy, stack, endpoint, region), delete = calls(log)
    assert (deploy, endpoint, region) == ("deploy", None, "eu-west-1") and stack.startswith("tiny-pytest-")
    assert delete == ["delete", stack, None, "eu-west-1"]


def test_on_aws_a_failed_deploy_is_reported_and_its_stack_deleted_at_once(aws_project: Path, run_pytest):
    log = aws_project / "calls.jsonl"
    result = run_pytest("--faasflow-aws", env={"STUB_LOG": str(log), "FAIL_DEPLOY": "1", "AWS_REGION": "us-west-2"})
    result.assert_outcomes(errors=2)
    (_, stack, _, region), delete = calls(log)  # deployed once for both tests, deleted once
    assert delete == ["delete", stack, None, "us-west-2"] and region == "us-west-2"
    result.stdout.fnmatch_lines([f"deploying {aws_project / 'orchestrator' / 'flow.yml'} as stack '{stack}' failed: "
                                 "sam deploy exited 1:",
                                 f"Error: Failed to create changeset for the stack: {stack}",
                                 f"stack '{stack}' was deleted"])


def test_on_aws_a_stack_that_cannot_be_deleted_is_reported_with_the_command(aws_project: Path, run_pytest):
    log = aws_project / "calls.jsonl"
    result = run_pytest("--faasflow-aws", env={"STUB_LOG": str(log), "FAIL_DELETE": "1"})
    result.assert_outcomes(passed=1, failed=1, errors=1)  # the error: at the session's teardown
    stack = calls(log)[0][1]
    result.stdout.fnmatch_lines([f"deleting stack '{stack}' failed too; remove it with `sam delete --stack-name "
                                 f"{stack} --region us-east-1`: sam delete exited 1:*"])


# --- a stack in the way -----------------------------------------------------------------------


class CloudFormation:
    """describe_stacks / describe_stack_events as CloudFormation answers them."""

    def __init__(self, status: str | None, reason: str = "", events: list[dict] | None = None) -> None:
        self.status, self.reason, self.events = status, reason, events or []

    def describe_stacks(self, StackName: str) -> dict:
        if self.status is None:
            raise RuntimeError(f"An error occurred (ValidationError): Stack with id {StackName} does not exist")
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status, "StackStatusReason": self.reason}]}

    def describe_stack_events(self, StackName: str) -> dict:
        return {"StackEvents": self.events}


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", None])
def test_a_usable_stack_or_none_is_no_obstacle(status: str | None):
    assert unusable_stack_report(CloudFormation(status), "tiny") is None


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "REVIEW_IN_PROGRESS",
                                    "DELETE_IN_PROGRESS", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED",
                                    "UPDATE_ROLLBACK_FAILED"])
def test_a_stack_in_the_way_is_reported_with_its_state_and_the_command(status: str):
    report = unusable_stack_report(CloudFormation(status, "User Initiated"), "tiny")
    assert report == (f"stack 'tiny' already exists in state {status} (User Initiated), probably left over from an "
                      "interrupted test session; remove it with `sam delete --stack-name tiny` and run again")


def test_without_a_stack_reason_the_failed_resource_says_why():
    events = [{"ResourceStatus": "DELETE_COMPLETE", "LogicalResourceId": "Api"},
              {"ResourceStatus": "CREATE_FAILED", "LogicalResourceId": "Bucket",
               "ResourceStatusReason": "tiny-bucket already exists"}]
    report = unusable_stack_report(CloudFormation("ROLLBACK_COMPLETE", "", events), "tiny")
    assert report is not None and "(Bucket: tiny-bucket already exists)" in report


def test_other_errors_are_not_taken_for_a_missing_stack():
    class Refusing:
        def describe_stacks(self, StackName: str) -> dict:
            raise RuntimeError("An error occurred (ExpiredToken): the security token is expired")

    with pytest.raises(RuntimeError, match="ExpiredToken"):
        unusable_stack_report(Refusing(), "tiny")


@pytest.mark.parametrize(("flow_name", "stack"), [("tiny", "tiny"), ("My Flow_v2", "my-flow-v2"), ("__", "faasflow")])
def test_stack_names_are_the_flows_name_in_lower_case(flow_name: str, stack: str):
    assert stack_name_for(flow_name) == stack
