"""Security defaults of the generated template: a private, encrypted, TLS-only bucket, and a
gateway that may invoke the executor functions only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from faasflow import Flow
from faasflow.compiler.decide import decide
from faasflow.compiler.intrinsics import get_att, ref, sub
from faasflow.compiler.sam import render_sam

ROOT = Path(__file__).resolve().parents[2]
ASL = "orchestrator/x.asl.json"
ENCODER = "faasflow.executors.onnx_encoder.OnnxEncoder"


def reference() -> dict[str, Any]:
    return render_sam(decide(Flow.load_config(ROOT / "orchestrator" / "flow.yml").plan, ROOT, ASL))


def with_gpu() -> dict[str, Any]:
    """Zip shards, a Lambda image and GPU endpoints: only the Lambda functions are invoked."""
    flow = (
        Flow(name="mixed")
        .add(uses=ENCODER, name="encoder", package="image", uses_with={"model": "tiny"})
        .add(uses="functions.doc_store.DocStore", name="db", shards=2, polling={"/query": "ALL", "/index": "ANY"})
        .add(uses=ENCODER, name="gpu-encoder", gpu=True, shards=2, uses_with={"model": "tiny"})
    )
    return render_sam(decide(flow.plan, ROOT, ASL))


@pytest.fixture(params=["template.yaml", "template.semantic.yaml"])
def committed(request: pytest.FixtureRequest) -> dict[str, Any]:
    return yaml.safe_load((ROOT / request.param).read_text())


def test_the_bucket_blocks_public_access_and_is_encrypted(committed: dict[str, Any]):
    bucket = committed["Resources"]["FlowBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
        ]
    }


def test_the_bucket_policy_denies_requests_not_over_tls(committed: dict[str, Any]):
    policy = committed["Resources"]["FlowBucketPolicy"]
    assert policy["Type"] == "AWS::S3::BucketPolicy"
    assert policy["Properties"]["Bucket"] == ref("FlowBucket")
    document = policy["Properties"]["PolicyDocument"]
    assert document["Version"] == "2012-10-17"
    [statement] = document["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [get_att("FlowBucket", "Arn"), sub("${FlowBucket.Arn}/*")]


def test_the_bucket_itself_refers_to_nothing_that_could_make_a_cycle():
    """Named, not referenced: the bucket's properties hold no Ref or GetAtt (only pseudo parameters)."""
    text = yaml.safe_dump(reference()["Resources"]["FlowBucket"])
    assert "Ref" not in text and "GetAtt" not in text


def gateway_invokes(template: dict[str, Any]) -> list[dict[str, Any]]:
    statements = template["Resources"]["GatewayFunction"]["Properties"]["Policies"][0]["Statement"]
    return [s for s in statements if "lambda:InvokeFunction" in s["Action"]]


def test_the_gateway_invokes_exactly_the_executor_functions():
    template = reference()
    [statement] = gateway_invokes(template)
    assert statement["Action"] == ["lambda:InvokeFunction"]
    executors = ["FeaturizerFunction", "DbShard0Function", "DbShard1Function", "DbShard2Function", "RankerFunction"]
    assert statement["Resource"] == [get_att(f, "Arn") for f in executors]


def test_the_gateway_invokes_no_gpu_endpoint_and_no_wildcard():
    template = with_gpu()
    [statement] = gateway_invokes(template)
    assert statement["Resource"] == [
        get_att(f, "Arn") for f in ("EncoderFunction", "DbShard0Function", "DbShard1Function")
    ]
    every = [s for s in template["Resources"]["GatewayFunction"]["Properties"]["Policies"][0]["Statement"]]
    assert all("*" != s["Resource"] and "*" not in s["Resource"] for s in every)
