"""Deploy a tiny SAM app to MiniStack with faasflow's deploy tooling and run it.

The app has the parts every faasflow deployment has: a function, a layer shipped
as a prebuilt ``python/`` folder, an Express state machine invoking the function,
and an S3 bucket the function writes to through boto3.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from faasflow.deploy.sam import DeployError, deploy, validate
from faasflow.testing import MiniStack

pytestmark = pytest.mark.emulator

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: faasflow emulator smoke test

Globals:
  Function:
    Runtime: python3.13
    Architectures: [x86_64]
    Timeout: 30
    MemorySize: 256

Resources:
  SmokeLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: faasflow-smoke-lib
      ContentUri: layer/
      CompatibleRuntimes: [python3.13]

  DataBucket:
    Type: AWS::S3::Bucket

  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Layers: [!Ref SmokeLayer]
      Environment:
        Variables:
          BUCKET: !Ref DataBucket
      Policies:
        - S3CrudPolicy:
            BucketName: !Ref DataBucket

  SmokeStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Type: EXPRESS
      Definition:
        StartAt: Work
        States:
          Work:
            Type: Task
            Resource: arn:aws:states:::lambda:invoke
            Parameters:
              FunctionName: ${WorkerArn}
              Payload.$: $
            OutputPath: $.Payload
            End: true
      DefinitionSubstitutions:
        WorkerArn: !GetAtt WorkerFunction.Arn
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Ref WorkerFunction

Outputs:
  StateMachineArn:
    Value: !Ref SmokeStateMachine
  WorkerFunctionName:
    Value: !Ref WorkerFunction
  BucketName:
    Value: !Ref DataBucket
"""

HANDLER = """\
import json
import os

import boto3
import smokelib


def handler(event, context):
    key = f"smoke/{event['name']}.json"
    boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key=key, Body=json.dumps(event).encode())
    return {"greeting": smokelib.greet(event["name"]), "key": key}
"""

LAYER_LIB = """\
def greet(name):
    return f"hello, {name}"
"""


def write_project(root: Path) -> Path:
    files = {
        "template.yaml": TEMPLATE,
        "src/app.py": HANDLER,
        "layer/python/smokelib/__init__.py": LAYER_LIB,
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_validate_accepts_the_smoke_template(tmp_path: Path, emulator_tools: None) -> None:
    output = validate(write_project(tmp_path))
    assert "valid" in output.lower()


def test_validate_reports_a_broken_template(tmp_path: Path, emulator_tools: None) -> None:
    project = write_project(tmp_path)
    (project / "template.yaml").write_text(TEMPLATE.replace("Handler: app.handler", "Handler: 42\n      Bogus: 1"))
    with pytest.raises(DeployError) as info:
        validate(project)
    assert "validate" in " ".join(info.value.command)
    assert info.value.output


def test_deploy_and_run_express_state_machine(tmp_path: Path, fresh_ministack: MiniStack) -> None:
    project = write_project(tmp_path / "app")
    outputs = deploy(project, "faasflow-smoke", endpoint_url=fresh_ministack.endpoint)
    assert {"StateMachineArn", "WorkerFunctionName", "BucketName"} <= outputs.keys()

    sfn = fresh_ministack.client("stepfunctions")
    result = sfn.start_sync_execution(stateMachineArn=outputs["StateMachineArn"], input=json.dumps({"name": "ada"}))
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"greeting": "hello, ada", "key": "smoke/ada.json"}

    body = fresh_ministack.client("s3").get_object(Bucket=outputs["BucketName"], Key="smoke/ada.json")["Body"].read()
    assert json.loads(body) == {"name": "ada"}

    # A second deploy of the unchanged app is a no-op, not an error.
    assert deploy(project, "faasflow-smoke", endpoint_url=fresh_ministack.endpoint) == outputs
