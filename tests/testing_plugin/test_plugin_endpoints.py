"""Where the user's session deploys to, and what it leaves: an emulator given by endpoint is
used as it is (a leftover stack there is reported, not deployed over), the plugin's own
MiniStack is reset per module unless told not to, and a deploy SAM refuses fails with SAM's
error."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faasflow.testing import MiniStack

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.emulator

# A custom resource whose function does not exist: MiniStack rolls the stack back.
FAILING_TEMPLATE = {
    "Resources": {
        "Broken": {
            "Type": "Custom::Broken",
            "Properties": {"ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:nowhere"},
        }
    }
}

ENDPOINT_USER = '''
import pytest

from faasflow import Document
from faasflow.testing import ResetUnsupported
from faasflow.testing.localstack_session import MINISTACK_SERVICES


def test_the_given_emulator_is_used_as_it_is(deployed_flow, faasflow_emulator, localstack):
    assert faasflow_emulator.kind == "endpoint" and faasflow_emulator.endpoint_url == ENDPOINT
    with pytest.raises(ResetUnsupported, match="not started by this session"):
        faasflow_emulator.reset()
    assert "kept-by-the-outer-test" in [b["Name"] for b in localstack.boto3.client("s3").list_buckets()["Buckets"]]
    assert set(localstack.services) == MINISTACK_SERVICES  # probed here: what the plugin assumes of MiniStack holds
    deployed_flow.post("/index", Document(id="e1", text="an endpoint of its own"))
    assert deployed_flow.post("/search", Document(text="endpoint"))[0].matches.ids == ["e1"]
'''


def wait_for_stack(cloudformation, name: str, timeout_s: float = 60) -> dict | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stacks = [s for s in cloudformation.list_stacks()["StackSummaries"] if s["StackName"] == name
                  and s["StackStatus"] != "DELETE_COMPLETE"]
        if not stacks:
            return None
        if not stacks[0]["StackStatus"].endswith("_IN_PROGRESS"):
            return stacks[0]
        time.sleep(0.2)
    raise AssertionError(f"stack {name} still in progress after {timeout_s} s")


@pytest.fixture
def outer_ministack(plugin_tools: None, tmp_path: Path) -> Iterator[MiniStack]:
    """An emulator this test runs, as a developer's own LocalStack would be."""
    with MiniStack(runtime="python3.13", log_dir=tmp_path / "ministack") as emulator:
        yield emulator


def test_a_given_endpoint_is_used_and_a_leftover_stack_there_is_reported(
        outer_ministack: MiniStack, tiny_project: Path, run_pytest):
    cloudformation = outer_ministack.client("cloudformation")
    cloudformation.create_stack(StackName="tiny", TemplateBody=json.dumps(FAILING_TEMPLATE))
    assert wait_for_stack(cloudformation, "tiny")["StackStatus"] == "ROLLBACK_COMPLETE"
    outer_ministack.client("s3").create_bucket(Bucket="kept-by-the-outer-test")
    tests = tiny_project / "tests_endpoint"
    tests.mkdir()
    (tests / "test_user.py").write_text(f"ENDPOINT = {outer_ministack.endpoint!r}\n" + ENDPOINT_USER)

    result = run_pytest(str(tests), "--rootdir", str(tiny_project), "--faasflow-endpoint", outer_ministack.endpoint)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "stack 'tiny' already exists in state ROLLBACK_COMPLETE (*), probably left over from an interrupted test "
        "session; remove it with `sam delete --stack-name tiny` and run again"])

    cloudformation.delete_stack(StackName="tiny")
    assert wait_for_stack(cloudformation, "tiny") is None
    given = {"FAASFLOW_TEST_ENDPOINT": outer_ministack.endpoint}  # the environment's way to say it
    result = run_pytest(str(tests), "--rootdir", str(tiny_project), env=given)
    result.assert_outcomes(passed=1)
    assert wait_for_stack(cloudformation, "tiny")["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    buckets = [b["Name"] for b in outer_ministack.client("s3").list_buckets()["Buckets"]]
    assert "kept-by-the-outer-test" in buckets  # never reset


RESET_USER_A = '''
def test_first_module_leaves_a_bucket(faasflow_emulator):
    faasflow_emulator.client("s3").create_bucket(Bucket="left-by-module-a")
'''

RESET_USER_B = '''
def test_second_module_sees_it_only_without_resets(faasflow_emulator, pytestconfig):
    names = [b["Name"] for b in faasflow_emulator.client("s3").list_buckets()["Buckets"]]
    expected = pytestconfig.getini("faasflow_reset") == "session"
    assert ("left-by-module-a" in names) is expected
'''


def test_the_plugins_ministack_is_reset_per_module_unless_told_not_to(plugin_tools: None, pytester: pytest.Pytester,
                                                                      run_pytest):
    pytester.makepyfile(test_a=RESET_USER_A, test_b=RESET_USER_B, test_c="def test_nothing():\n    pass\n")
    run_pytest().assert_outcomes(passed=3)
    run_pytest("-o", "faasflow_reset=session").assert_outcomes(passed=3)


def test_a_deploy_sam_refuses_fails_with_sams_error(plugin_tools: None, pytester: pytest.Pytester,
                                                    project_files: dict, run_pytest):
    for path, text in project_files.items():
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / path).write_text(text)
    (pytester.path / "functions" / "requirements.txt").write_text("this is not a requirement!!!\n")
    pytester.makepyfile(test_user="def test_a(deployed_flow):\n    pass\n\n\ndef test_b(deployed_flow):\n    pass\n")
    result = run_pytest()
    result.assert_outcomes(errors=2)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        f"deploying {pytester.path / 'orchestrator' / 'flow.yml'} as stack 'tiny' failed: *sam build * exited 1:",
        "*Build Failed*",
        "*Invalid requirement: 'this is not a requirement!!!'*"])
    errors_section = out.split("short test summary info")[0]  # pytest repeats messages in full there when CI is set
    assert errors_section.count("sam build --template-file") == 2  # both tests report it
    assert "Traceback" not in out and "DeployError" not in out
