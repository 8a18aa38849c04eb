"""Deployed, a repeated Idempotency-Key runs nothing twice: the gateway function keeps the
answer in the template's DynamoDB table (Powertools) and replays it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faasflow.testing import MiniStack

pytestmark = pytest.mark.emulator

TALLY = '''
"""Tally: counts its own calls in its storage (S3 when deployed) and stamps each doc with the count."""

from faasflow import DocumentArray, Executor, requests


class Tally(Executor):
    @requests
    def tally(self, docs: DocumentArray, **kwargs) -> None:
        calls = int(self.storage.get("calls") or b"0") + 1
        self.storage.put("calls", str(calls).encode())
        for doc in docs:
            doc.tags["calls"] = calls
'''

FLOW = """
jtype: Flow
with:
  name: tally
  idempotency_ttl_s: 600
executors:
  - name: tally
    uses: functions.tally.Tally
"""


def faasflow(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "faasflow", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ), stdin=subprocess.DEVNULL, timeout=900)
    assert done.returncode == 0, f"faasflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, ministack: MiniStack) -> Iterator[tuple[str, dict]]:
    parent = tmp_path_factory.mktemp("idempotent-project")
    faasflow("new", "tally", cwd=parent)
    root = parent / "tally"
    (root / "functions" / "tally.py").write_text(TALLY)
    (root / "orchestrator" / "flow.yml").write_text(FLOW)
    ministack.reset()
    outputs = json.loads(faasflow("deploy", "orchestrator/flow.yml", "--endpoint-url", ministack.endpoint, "--json",
                                  cwd=root))
    yield outputs["ApiUrlLocal"].rstrip("/"), outputs


def post(url: str, key: str, doc_id: str) -> httpx.Response:
    return httpx.post(f"{url}/run", json={"data": [{"id": doc_id}]}, headers={"Idempotency-Key": key},
                      timeout=120, trust_env=False)


def test_a_repeated_key_runs_the_deployed_flow_once(api: tuple[str, dict], ministack: MiniStack):
    url, outputs = api
    first, second = post(url, "deployed-key-1", "a"), post(url, "deployed-key-1", "a")
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["data"] == second.json()["data"]
    assert first.json()["data"][0]["tags"]["calls"] == 1
    assert second.headers.get("idempotent-replayed") == "true"
    assert post(url, "deployed-key-2", "b").json()["data"][0]["tags"]["calls"] == 2  # only one run before
    reused = post(url, "deployed-key-1", "other")
    assert reused.status_code == 422 and "deployed-key-1" in reused.text
    # the answers are in the template's table, as Powertools keeps them
    from faasflow.aws import aws_client

    dynamodb = aws_client("dynamodb", endpoint_url=ministack.endpoint, region=ministack.region, dummy_credentials=True)
    items = dynamodb.scan(TableName=outputs["IdempotencyTableName"])["Items"]
    assert len(items) == 2 and {item["status"]["S"] for item in items} == {"COMPLETED"}
