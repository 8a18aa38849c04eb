"""A user's test session against the MiniStack the plugin starts: the deployed Flow answers as
the embedded one, batch indexing returns its summary, pytest-localstack's session object
talks to the same emulator, the next module gets an empty emulator and the Flow redeployed,
and the ``faasflow_flow`` marker deploys another Flow.

One subprocess session runs all of it (three user modules), as the deploys dominate its time.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.emulator

HELPERS = '''
from faasflow import Document, DocumentArray, codec


def wire(docs):
    return codec.to_plain(codec.docs_to_list(docs))


def stored(flow):
    results = flow.post("/count", DocumentArray(), return_responses=True)[0].parameters["__results__"]
    return sum(result["count"] for name, result in results.items() if name.startswith("store/"))


def documents(texts):
    return DocumentArray(Document(id=key, text=text) for key, text in texts.items())
'''

FIRST_MODULE = '''
import json

import boto3
import pytest

from faasflow import Document
from helpers import documents, stored, wire

TEXTS = {
    "bike": "a red bicycle leans on the harbour wall",
    "kite": "children fly a paper kite on the beach",
    "boat": "a red boat sails out of the harbour",
    "train": "the night train leaves the station",
}


def test_the_deployed_flow_answers_as_the_embedded_one(deployed_flow, tmp_path):
    assert deployed_flow.stack_name == "tiny" and deployed_flow.emulator.kind == "ministack"
    assert {"Words", "StoreShard0", "StoreShard1", "Gateway", "Ingest"} <= set(deployed_flow.function_names)
    assert deployed_flow.bucket == deployed_flow.outputs["BucketName"]
    assert deployed_flow.state_machine_arn.startswith("arn:aws:states:")
    assert deployed_flow.batch_state_machine_arn != deployed_flow.state_machine_arn
    assert stored(deployed_flow) == 0
    embedded = deployed_flow.flow
    embedded.workspace = str(tmp_path)
    with embedded:
        assert wire(deployed_flow.post("/index", documents(TEXTS))) == wire(embedded.post("/index", documents(TEXTS)))
        for query in ("red harbour", "paper kite", "night station"):
            remote = deployed_flow.post("/search", Document(id="q", text=query), parameters={"limit": 2})
            local = embedded.post("/search", Document(id="q", text=query), parameters={"limit": 2})
            assert remote[0].matches and wire(remote) == wire(local)
        assert stored(deployed_flow) == stored(embedded) == len(TEXTS)


def test_index_file_returns_the_runs_summary(deployed_flow, tmp_path):
    path = tmp_path / "more.jsonl"
    lines = [json.dumps({"id": f"more-{n}", "text": f"lighthouse number {n}"}) for n in range(5)]
    lines.insert(2, "{not json")
    path.write_text("\\n".join(lines) + "\\n")
    before = stored(deployed_flow)
    summary = deployed_flow.index_file(path)
    assert (summary["lines"], summary["docs_indexed"], summary["docs_failed"]) == (6, 5, 0)
    assert [rejected["line"] for rejected in summary["rejected"]] == [3]
    assert stored(deployed_flow) == before + 5
    assert deployed_flow.post("/search", Document(text="lighthouse 3"))[0].matches[0].id == "more-3"
    again = deployed_flow.index_file(path)  # the same bytes at the same key start no second run
    assert again["run"] == summary["run"] and stored(deployed_flow) == before + 5


def test_localstack_is_pytest_localstacks_session_on_the_same_emulator(localstack, faasflow_emulator):
    localstack.boto3.client("s3").create_bucket(Bucket="made-through-localstack")
    seen = [bucket["Name"] for bucket in faasflow_emulator.client("s3").list_buckets()["Buckets"]]
    assert "made-through-localstack" in seen
    with localstack.botocore.patch_botocore():
        plain = boto3.client("s3", region_name="us-east-1")  # no endpoint, no credentials: patched
        assert "made-through-localstack" in [bucket["Name"] for bucket in plain.list_buckets()["Buckets"]]
    assert {"s3", "lambda", "stepfunctions", "cloudformation"} <= set(localstack.services)
    assert "es" not in localstack.services  # MiniStack does not answer it: not mapped
'''

SECOND_MODULE = '''
from faasflow import Document
from helpers import stored


def test_the_next_module_gets_an_empty_emulator_and_the_flow_again(deployed_flow, faasflow_emulator):
    seen = [bucket["Name"] for bucket in faasflow_emulator.client("s3").list_buckets()["Buckets"]]
    assert "made-through-localstack" not in seen  # the emulator was reset
    assert faasflow_emulator.generation == 1
    assert stored(deployed_flow) == 0  # deployed again, empty
    buckets = faasflow_emulator.client("s3").list_buckets()["Buckets"]
    assert deployed_flow.bucket in [bucket["Name"] for bucket in buckets]
    deployed_flow.post("/index", Document(id="x", text="a quiet harbour"))
    assert deployed_flow.post("/search", Document(text="harbour"))[0].matches.ids == ["x"]
'''

MARKER_MODULE = '''
import httpx
import pytest

from faasflow import Document

SEEN = []


@pytest.mark.faasflow_flow("flows/other.yml")
def test_a_marked_test_gets_the_marked_flow(deployed_flow, request):
    assert request.node.name == "test_a_marked_test_gets_the_marked_flow[other]"
    assert deployed_flow.flow.name == "other" and deployed_flow.stack_name == "other"
    assert set(deployed_flow.function_names) == {"Words", "Gateway", "Ingest"}
    assert deployed_flow.post("/anything", Document(text="Hello, World"))[0].tags["words"] == ["hello", "world"]
    without_key = httpx.post(deployed_flow.url + "/anything", json={"data": [{"text": "x"}]}, timeout=60)
    assert without_key.status_code == 403  # auth: api_key, and deployed_flow sends the key SAM made
    SEEN.append(deployed_flow)


@pytest.mark.faasflow_flow("flows/../flows/other.yml")
def test_the_same_file_is_deployed_once(deployed_flow):
    assert deployed_flow is SEEN[0]


def test_an_unmarked_test_gets_the_projects_flow(deployed_flow):
    assert deployed_flow.stack_name == "tiny" and deployed_flow.flow.name == "tiny"
    assert deployed_flow.post("/search", Document(text="harbour"))[0].matches.ids == []  # reset for this module
'''


def test_a_users_session_against_the_plugins_ministack(plugin_tools: None, tiny_project: Path, run_pytest):
    tests = tiny_project / "tests_main"
    tests.mkdir()
    (tests / "helpers.py").write_text(HELPERS)
    (tests / "test_a_first.py").write_text(FIRST_MODULE)
    (tests / "test_b_second.py").write_text(SECOND_MODULE)
    (tests / "test_c_marker.py").write_text(MARKER_MODULE)
    started = time.monotonic()
    result = run_pytest(str(tests), "--rootdir", str(tiny_project), "-v", "--durations=0")
    lines = result.stdout.lines
    first = next((n + 1 for n, line in enumerate(lines) if "slowest durations" in line), len(lines))
    timings = [line for line in lines[first:first + 12] if not line.startswith(("=", "("))]
    print(f"the user's session took {time.monotonic() - started:.0f} s:", *timings, sep="\n  ")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["*test_c_marker.py::test_a_marked_test_gets_the_marked_flow[[]other[]] PASSED*"])
