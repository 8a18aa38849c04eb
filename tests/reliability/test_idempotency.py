"""A retry is never applied twice: every POST the Client sends carries an Idempotency-Key,
and the gateway answers a repeat with the answer it kept, without running the Flow again,
even after the server was killed with -9 and restarted on the same workspace."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from faasflow import Client, Document, DocumentArray, Executor, Flow, FlowConfigError, requests
from faasflow.client import Backoff
from faasflow.embedded import EmbeddedBackend
from faasflow.serve import idempotency
from faasflow.serve.app import create_app
from faasflow.serve.server import serve_app_in_background
from faasflow.wire import IDEMPOTENCY_IN_PROGRESS as IN_PROGRESS_REASON
from faasflow.wire import IDEMPOTENCY_KEY_HEADER
from tests.support.conformance import free_port

ROOT = Path(__file__).resolve().parents[2]
CALLS: list[str] = []

RECORDER = '''
import os

from faasflow import DocumentArray, Executor, requests


class Recorder(Executor):
    """Appends each batch it is given to applied.txt in its workspace: what it applied, in order."""

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs) -> None:
        with open(os.path.join(self.workspace, "applied.txt"), "a") as applied:
            applied.write(",".join(doc.id for doc in docs) + "\\n")
            applied.flush()
            os.fsync(applied.fileno())
        for doc in docs:
            doc.tags["applied"] = True
'''

# The server, with a hold for the test: the 4th POST's answer is kept (inside the app),
# then held back from the client until the test kills the process with -9.
SERVER = '''
import asyncio
import pathlib
import sys

from faasflow import Flow
from faasflow.embedded import EmbeddedBackend
from faasflow.serve import create_app, run_server

flow_file, workspace, port, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
posts = 0


def hold_fourth(app):
    async def held_app(scope, receive, send):
        global posts
        if scope["type"] != "http" or scope["method"] != "POST" or not marker:
            return await app(scope, receive, send)
        posts += 1
        number = posts

        async def held(message):
            if number == 4 and message["type"] == "http.response.start":
                pathlib.Path(marker).write_text("the answer to batch 4 is kept, not yet sent")
                await asyncio.sleep(3600)
            await send(message)

        return await app(scope, receive, held)

    return held_app


flow = Flow.load_config(flow_file)
flow.workspace = workspace
flow.protocol = None
with flow:
    run_server(hold_fourth(create_app(EmbeddedBackend(flow))), "127.0.0.1", port, log_level="warning")
'''

FLOW = """
jtype: Flow
with:
  name: recorded
executors:
  - name: recorder
    uses: recorder.Recorder
"""


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/status", timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_batch_whose_answer_was_lost_to_kill_9_is_applied_once(tmp_path: Path):
    """The issue: 60 docs in batches of 10, max_attempts=8, the server killed with -9
    during the 4th batch and restarted; the executor must apply every batch exactly once."""
    (tmp_path / "recorder.py").write_text(RECORDER)
    (tmp_path / "flow.yml").write_text(FLOW)
    (tmp_path / "server.py").write_text(SERVER)
    workspace, marker, port = tmp_path / "workspace", tmp_path / "held", free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}

    def start(hold: Path | None) -> subprocess.Popen[bytes]:
        args = [sys.executable, str(tmp_path / "server.py"), str(tmp_path / "flow.yml"), str(workspace), str(port),
                str(hold or "")]
        server = subprocess.Popen(args, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
        wait_until(lambda: answers(url) or server.poll() is not None, 60, "the server to answer")
        assert server.poll() is None, "the server did not start"
        return server

    server = start(marker)
    result: dict[str, Any] = {}

    def post() -> None:
        try:
            with Client(url, timeout=60) as client:
                docs = DocumentArray(Document(id=f"d{i}") for i in range(60))
                result["docs"] = client.post("/index", docs, request_size=10, max_attempts=8,
                                             backoff=Backoff(initial=0.2, maximum=2.0))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            result["error"] = exc

    poster = threading.Thread(target=post)
    poster.start()
    try:
        wait_until(marker.exists, 60, "the 4th batch to be answered and held")
        server.kill()  # SIGKILL: no shutdown, the held answer never leaves
        server.wait()
        server = start(None)
        poster.join(90)
    finally:
        server.kill()
        server.wait()
    assert not poster.is_alive()
    assert "error" not in result, result.get("error")
    docs = result["docs"]
    assert [doc.id for doc in docs] == [f"d{i}" for i in range(60)]
    assert all(doc.tags["applied"] is True for doc in docs)
    applied = (workspace / "recorder" / "0" / "applied.txt").read_text().splitlines()
    batches = [",".join(f"d{i}" for i in range(start, start + 10)) for start in range(0, 60, 10)]
    assert applied == batches, "each batch applied exactly once, in order"


# --- in-process: the rules of the window ---


class Counter(Executor):
    @requests(on="/count")
    def count(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> None:
        CALLS.append("count")
        time.sleep(float(parameters.get("sleep", 0)))
        for doc in docs:
            doc.tags["calls"] = len(CALLS)

    @requests(on="/flaky")
    def flaky(self, docs: DocumentArray, **kwargs: Any) -> None:
        CALLS.append("flaky")
        if CALLS.count("flaky") == 1:
            raise RuntimeError("the first call fails")


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    CALLS.clear()
    ttl = getattr(request, "param", 3600)
    flow = Flow(workspace=str(tmp_path), idempotency_ttl_s=ttl).add(uses=Counter, name="counter")
    with flow:
        server = serve_app_in_background(create_app(EmbeddedBackend(flow)))
        try:
            yield server.url
        finally:
            server.stop()


def post(url: str, key: str, body: dict[str, Any], path: str = "/count") -> httpx.Response:
    return httpx.post(url + path, json=body, headers={IDEMPOTENCY_KEY_HEADER: key}, timeout=30, trust_env=False)


def test_a_repeated_key_gets_the_kept_answer_and_runs_nothing(served: str):
    body = {"data": [{"id": "a"}]}
    first, second = post(served, "key-1", body), post(served, "key-1", body)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and CALLS == ["count"]
    assert second.headers[idempotency.REPLAYED_HEADER] == "true" and idempotency.REPLAYED_HEADER not in first.headers
    assert post(served, "key-2", body).json()["data"][0]["tags"]["calls"] == 2  # a new key runs


def test_a_key_reused_with_another_body_is_a_422_naming_the_key(served: str):
    assert post(served, "key-1", {"data": [{"id": "a"}]}).status_code == 200
    reused = post(served, "key-1", {"data": [{"id": "b"}]})
    assert reused.status_code == 422 and reused.json()["error"]["reason"] == idempotency.KEY_REUSED
    assert "'key-1'" in reused.json()["error"]["detail"] and CALLS == ["count"]
    other_endpoint = post(served, "key-1", {"data": [{"id": "a"}]}, path="/flaky")
    assert other_endpoint.status_code == 422 and CALLS == ["count"]


def test_a_repeat_while_the_first_runs_is_a_409_and_the_client_waits_it_out(served: str):
    body = {"data": [{"id": "a"}], "parameters": {"sleep": 1.0}}
    first: dict[str, httpx.Response] = {}
    runner = threading.Thread(target=lambda: first.update(answer=post(served, "slow", body)))
    runner.start()
    wait_until(lambda: CALLS == ["count"], 10, "the first request to run")
    repeat = post(served, "slow", body)
    assert repeat.status_code == 409 and repeat.json()["error"]["reason"] == IN_PROGRESS_REASON
    assert "'slow'" in repeat.json()["error"]["detail"] and repeat.headers["retry-after"] == "1"
    runner.join()
    assert first["answer"].status_code == 200 and CALLS == ["count"]


def test_the_client_retries_a_409_in_progress_until_the_answer_is_kept(served: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("faasflow.client.client.new_request_id", lambda: "shared")  # both posts: one key
    docs = DocumentArray([Document(id="a")])
    with Client(served) as client:
        results: list[Any] = []
        runner = threading.Thread(target=lambda: results.append(
            client.post("/count", docs, parameters={"sleep": 1.0}, max_attempts=2)))
        runner.start()
        wait_until(lambda: CALLS == ["count"], 10, "the first request to run")
        again = client.post("/count", docs, parameters={"sleep": 1.0}, max_attempts=5, backoff=Backoff(initial=0.5))
        runner.join()
    assert [d.tags["calls"] for d in again] == [d.tags["calls"] for d in results[0]] == [1] and CALLS == ["count"]


def test_the_client_sends_a_key_only_when_it_may_retry(served: str):
    """A POST that is never retried needs no key, and costs the gateway nothing to keep."""
    sent: list[str | None] = []
    with Client(served) as client:
        client._http.event_hooks["request"].append(lambda request: sent.append(request.headers.get("idempotency-key")))
        client.post("/count", Document(id="once"))
        client.post("/count", Document(id="twice"), max_attempts=2)
    assert sent[0] is None and sent[1] is not None


def test_a_5xx_is_not_kept_so_a_retry_runs_again(served: str):
    body = {"data": [{"id": "a"}]}
    assert post(served, "flaky-1", body, "/flaky").status_code == 500
    assert post(served, "flaky-1", body, "/flaky").status_code == 200
    assert post(served, "flaky-1", body, "/flaky").status_code == 200 and CALLS == ["flaky", "flaky"]


@pytest.mark.parametrize("served", [1], indirect=True)
def test_the_window_is_idempotency_ttl_s(served: str):
    body = {"data": [{"id": "a"}]}
    post(served, "key-1", body)
    post(served, "key-1", body)
    assert CALLS == ["count"]
    time.sleep(1.2)
    assert idempotency.REPLAYED_HEADER not in post(served, "key-1", body).headers and CALLS == ["count", "count"]


@pytest.mark.parametrize("served", [0], indirect=True)
def test_a_window_of_0_keeps_nothing(served: str):
    body = {"data": [{"id": "a"}]}
    post(served, "key-1", body)
    post(served, "key-1", body)
    assert CALLS == ["count", "count"]


def test_requests_without_a_key_and_bad_keys(served: str):
    assert httpx.post(served + "/count", json={"data": []}, trust_env=False).status_code == 200
    bad = post(served, "no spaces allowed", {"data": []})
    assert bad.status_code == 400 and bad.json()["error"]["reason"] == idempotency.INVALID_KEY


def test_a_key_held_by_a_dead_server_runs_again(tmp_path: Path):
    """A server killed while the Flow ran a request leaves no answer: its outcome is unknown,
    and a repeat runs it (as on AWS once the invocation's time is up)."""
    store = idempotency.LocalIdempotencyStore(tmp_path / "keys.sqlite3", 60)
    assert store.begin("k", "mark") is None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with store._connect() as db:
        db.execute("UPDATE answers SET owner = ?", (f"{dead.stdout.strip()}:gone",))
    assert store.begin("k", "mark") is None  # taken over
    store.complete("k", idempotency.Stored(200, {"content-type": "application/json"}, b"{}"))
    assert store.begin("k", "mark") == idempotency.Stored(200, {"content-type": "application/json"}, b"{}")


def test_the_client_and_the_gateway_agree_on_the_header_and_the_reason():
    assert IDEMPOTENCY_KEY_HEADER == idempotency.KEY_HEADER and IN_PROGRESS_REASON == idempotency.IN_PROGRESS


def test_the_window_is_a_flow_option_checked_and_saved(tmp_path: Path):
    flow = Flow(idempotency_ttl_s=120).add(uses=Counter, name="counter")
    assert flow.plan.idempotency_ttl_s == 120
    assert Flow.load_config(flow.save_config()).plan.idempotency_ttl_s == 120
    for wrong in (-1, 86401, "1h", True):
        with pytest.raises(FlowConfigError) as error:
            Flow(idempotency_ttl_s=wrong).add(uses=Counter, name="counter").build()  # type: ignore[arg-type]
        assert error.value.field == "idempotency_ttl_s"
    text = textwrap.dedent("""
        jtype: Flow
        with: {idempotency_ttl_s: 60}
        executors: [{name: append, uses: tests.support.executors.Append}]
    """)
    assert Flow.load_config(text).plan.idempotency_ttl_s == 60
    assert "idempotency_ttl_s" not in Flow().add(uses=Counter, name="counter").save_config()  # the default


# --- on AWS: Powertools around the gateway function, and the table the template declares ---


class MemoryPersistence(BasePersistenceLayer):
    """Powertools' persistence contract in a dict, with DynamoDB's conditional put."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}

    def _get_record(self, idempotency_key: str) -> DataRecord:
        if idempotency_key not in self.records:
            raise IdempotencyItemNotFoundError
        return self.records[idempotency_key]

    def _put_record(self, data_record: DataRecord) -> None:
        old = self.records.get(data_record.idempotency_key)
        now_ms = time.time() * 1000
        if old is not None and not old.is_expired and not (
                old.status == "INPROGRESS" and (old.in_progress_expiry_timestamp or now_ms + 1) < now_ms):
            self._validate_payload(data_payload=data_record, stored_data_record=old)  # as DynamoDB's layer does
            raise IdempotencyItemAlreadyExistsError(old_data_record=old)
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)


def lambda_event(key: str | None, body: str, path: str = "/count") -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    return {"httpMethod": "POST", "path": path, "headers": headers, "body": body, "isBase64Encoded": False,
            "requestContext": {"requestId": "r"}}


class LambdaContext:
    function_name = "gateway"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def test_the_gateway_function_keeps_answers_with_powertools():
    from faasflow.runtime.idempotency import IdempotentGateway

    runs: list[str] = []

    def app(event: dict[str, Any], context: Any) -> dict[str, Any]:
        runs.append(event["body"])
        status = 500 if "fail" in event["body"] else 200
        return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": f'{{"n":{len(runs)}}}',
                "isBase64Encoded": False}

    gateway = IdempotentGateway(app, "table", 60, persistence=MemoryPersistence())
    context = LambdaContext()
    first = gateway(lambda_event("k1", '{"data":[]}'), context)
    again = gateway(lambda_event("k1", '{"data":[]}'), context)  # header names in any case
    assert first["body"] == again["body"] == '{"n":1}' and len(runs) == 1
    assert again["headers"][idempotency.REPLAYED_HEADER] == "true"
    reused = gateway(lambda_event("k1", '{"data":[{"id":"x"}]}'), context)
    assert reused["statusCode"] == 422 and "'k1'" in reused["body"] and len(runs) == 1
    failed = [gateway(lambda_event("k2", '{"fail":1}'), context) for _ in range(2)]
    assert [f["statusCode"] for f in failed] == [500, 500] and len(runs) == 3  # a 5xx is not kept
    gateway(lambda_event(None, '{"data":[]}'), context)
    gateway(lambda_event(None, '{"data":[]}'), context)
    assert len(runs) == 5  # no key: no idempotency
    assert gateway(lambda_event("bad key", "{}"), context)["statusCode"] == 400


def test_a_repeat_on_aws_while_the_first_runs_is_a_409():
    from faasflow.runtime.idempotency import IdempotentGateway

    persistence = MemoryPersistence()
    inner: list[dict[str, Any]] = []

    def app(event: dict[str, Any], context: Any) -> dict[str, Any]:
        inner.append(gateway(event, context))  # the repeat arrives while this one runs
        return {"statusCode": 200, "headers": {}, "body": "{}", "isBase64Encoded": False}

    gateway = IdempotentGateway(app, "table", 60, persistence=persistence)
    outer = gateway(lambda_event("k", "{}"), LambdaContext())
    assert outer["statusCode"] == 200 and inner[0]["statusCode"] == 409
    assert IN_PROGRESS_REASON in inner[0]["body"] and inner[0]["headers"]["Retry-After"] == "1"


def test_a_large_answer_is_kept_in_the_payload_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from faasflow.runtime import idempotency as runtime_idempotency

    monkeypatch.setenv("FAASFLOW_PAYLOAD_URL", f"file://{tmp_path}/payloads/")
    serializer = runtime_idempotency.AnswerSerializer()
    big = {"statusCode": 200, "headers": {}, "body": "x" * (runtime_idempotency.INLINE_RECORD_BYTES + 1)}
    record = serializer.to_dict(big)
    assert record["body"] is None and len(str(record)) < 1000
    assert serializer.from_dict(record) == big


def test_a_non_ascii_answer_is_measured_as_its_record_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Powertools writes JSON with non-ASCII escaped (6 bytes a character): the record's
    size, not the body's length, decides what goes to the payload storage."""
    from faasflow.runtime import idempotency as runtime_idempotency

    monkeypatch.setenv("FAASFLOW_PAYLOAD_URL", f"file://{tmp_path}/payloads/")
    text = "\u691c" * (runtime_idempotency.INLINE_RECORD_BYTES // 4)  # shorter than the limit, 6x as JSON
    record = runtime_idempotency.AnswerSerializer().to_dict({"statusCode": 200, "headers": {}, "body": text})
    assert record["body"] is None and "stored_body" in record


class FailingPersistence(MemoryPersistence):
    """DynamoDB refusing writes: at the first put (before the run) or when the answer is kept."""

    def __init__(self, fail_on: str) -> None:
        super().__init__()
        self.fail_on = fail_on

    def _put_record(self, data_record: DataRecord) -> None:
        if self.fail_on == "put":
            raise RuntimeError("throttled")
        super()._put_record(data_record)

    def _update_record(self, data_record: DataRecord) -> None:
        if self.fail_on == "update":
            raise RuntimeError("item too large")
        super()._update_record(data_record)


def test_an_unavailable_table_runs_nothing_and_a_failed_keep_still_answers():
    from faasflow.runtime.idempotency import IdempotentGateway

    runs: list[str] = []

    def app(event: dict[str, Any], context: Any) -> dict[str, Any]:
        runs.append(event["body"])
        return {"statusCode": 200, "headers": {}, "body": '{"ran":true}', "isBase64Encoded": False}

    down = IdempotentGateway(app, "table", 60, persistence=FailingPersistence("put"))
    answer = down(lambda_event("k", "{}"), LambdaContext())
    assert answer["statusCode"] == 503 and answer["headers"]["Retry-After"] == "1" and runs == []
    assert "idempotency_store_unavailable" in answer["body"]
    unkept = IdempotentGateway(app, "table", 60, persistence=FailingPersistence("update"))
    answer = unkept(lambda_event("k", "{}"), LambdaContext())
    assert answer["statusCode"] == 200 and answer["body"] == '{"ran":true}' and runs == ["{}"]


def test_keys_are_per_caller():
    """Behind an API key or IAM auth, one caller's key never answers another caller."""
    from faasflow.runtime.idempotency import IdempotentGateway

    runs: list[str] = []

    def app(event: dict[str, Any], context: Any) -> dict[str, Any]:
        runs.append(event["requestContext"]["identity"]["apiKeyId"])
        return {"statusCode": 200, "headers": {}, "body": f'{{"for":"{runs[-1]}"}}', "isBase64Encoded": False}

    gateway = IdempotentGateway(app, "table", 60, persistence=MemoryPersistence())

    def as_caller(caller: str) -> dict[str, Any]:
        event = lambda_event("same-key", "{}")
        event["requestContext"]["identity"] = {"apiKeyId": caller}
        return gateway(event, LambdaContext())

    assert as_caller("alice")["body"] == '{"for":"alice"}'
    assert as_caller("bob")["body"] == '{"for":"bob"}'
    assert as_caller("alice")["body"] == '{"for":"alice"}' and runs == ["alice", "bob"]


def reference(**options: Any) -> Flow:
    flow = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
    for name, value in options.items():
        setattr(flow, name, value)
    return flow


def template_of(flow: Flow) -> dict[str, Any]:
    from faasflow.compiler.artefacts import artefacts

    return dict(yaml.safe_load(artefacts(flow.plan, ROOT).files["template.yaml"]))


def test_the_template_declares_the_table_with_least_privilege():
    resources = template_of(reference(idempotency_ttl_s=120))["Resources"]
    table = resources["IdempotencyTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    gateway = resources["GatewayFunction"]["Properties"]
    assert gateway["Environment"]["Variables"]["FAASFLOW_IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert '"idempotency_ttl_s":120' in gateway["Environment"]["Variables"]["FAASFLOW_GATEWAY_CONFIG"]
    dynamodb = [s for s in gateway["Policies"][0]["Statement"] if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert dynamodb == [{"Effect": "Allow",
                         "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                    "dynamodb:DeleteItem"],
                         "Resource": [{"Fn::GetAtt": ["IdempotencyTable", "Arn"]}]}]
    others = [name for name, r in resources.items() if name != "GatewayFunction"
              and "dynamodb" in str(r.get("Properties", {}).get("Policies", ""))]
    assert others == []
    none = template_of(reference(idempotency_ttl_s=0))
    assert "IdempotencyTable" not in none["Resources"]
    assert "FAASFLOW_IDEMPOTENCY_TABLE" not in str(none["Resources"]["GatewayFunction"])
