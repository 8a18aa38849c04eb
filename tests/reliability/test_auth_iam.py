"""`auth: iam`: the deployed API wants SigV4-signed requests (AWS_IAM on every route), the
Client signs them with the default AWS credentials, and `faasflow serve` says that it does
not check them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from faasflow import Client, Document, Flow, FlowConfigError
from faasflow.client.sigv4 import region_of
from faasflow.compiler.artefacts import artefacts
from faasflow.errors import FaasflowError
from faasflow.serve.server import serve_app_in_background

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def reference(auth: str | None) -> Flow:
    flow = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
    flow.auth = auth
    return flow


def test_the_template_puts_aws_iam_on_every_route():
    template = yaml.safe_load(artefacts(reference("iam").plan, ROOT).files["template.yaml"])
    api = template["Resources"]["FlowApi"]
    assert api["Type"] == "AWS::Serverless::Api"  # the API the gateway function's events use
    assert api["Properties"]["Auth"] == {"DefaultAuthorizer": "AWS_IAM", "InvokeRole": "NONE"}
    events = template["Resources"]["GatewayFunction"]["Properties"]["Events"]
    assert events and all(e["Properties"]["RestApiId"] == {"Ref": "FlowApi"} for e in events.values())
    open_api = yaml.safe_load(artefacts(reference(None).plan, ROOT).files["template.yaml"])
    assert "Auth" not in open_api["Resources"]["FlowApi"]["Properties"]


def test_an_unknown_auth_is_an_error_naming_the_field():
    text = textwrap.dedent("""
        jtype: Flow
        with: {auth: sigv5}
        executors: [{name: append, uses: tests.support.executors.Append}]
    """)
    with pytest.raises(FlowConfigError) as error:
        Flow.load_config(text).build()
    assert error.value.field == "auth" and "'sigv5'" in str(error.value) and "'iam'" in str(error.value)
    assert Flow(auth="iam").add(uses="tests.support.executors.Append").plan.auth == "iam"
    with pytest.raises(FaasflowError, match=r"auth=.*'iam'.*'sigv5'"):
        Client("http://127.0.0.1:9", auth="sigv5")


def test_the_region_comes_from_the_api_url():
    assert region_of("https://abc123.execute-api.ap-southeast-2.amazonaws.com/Prod") == "ap-southeast-2"
    assert region_of("http://127.0.0.1:1/x", "us-west-2") == "us-west-2"


@pytest.fixture
def recorder() -> Any:
    """A tiny server that records each request it gets, and answers as a gateway would."""
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen.append({"method": scope["method"], "path": scope["path"], "headers": headers, "body": body})
        answer = b'{"header": {}, "data": [{"id": "a"}], "parameters": {}}'
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})

    server = serve_app_in_background(app)
    try:
        yield server.url, seen
    finally:
        server.stop()


def test_the_client_signs_with_sigv4_for_execute_api(recorder: Any, monkeypatch: pytest.MonkeyPatch):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    url, seen = recorder
    with Client(url + "/Prod", auth="iam", aws_region=REGION) as client:
        assert [d.id for d in client.post("/index", Document(id="a"))] == ["a"]
    request = seen[0]
    authorization = request["headers"]["authorization"]
    date = request["headers"]["x-amz-date"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{date[:8]}/{REGION}/execute-api/"
                                    "aws4_request, SignedHeaders=host;x-amz-date, Signature=")
    # the signature is the one botocore makes for this very request
    again = AWSRequest(method="POST", url=f"{url}{request['path']}", data=request["body"],
                       headers={"host": request["headers"]["host"], "X-Amz-Date": date})
    again.context["timestamp"] = date
    signer = SigV4Auth(Credentials(*CREDENTIALS.values()), "execute-api", REGION)
    expected = signer.signature(signer.string_to_sign(again, signer.canonical_request(again)), again)
    assert authorization.endswith(f"Signature={expected}")


def test_faasflow_serve_says_it_does_not_check_iam(tmp_path: Path):
    flow_file = tmp_path / "flow.yml"
    flow_file.write_text("jtype: Flow\nwith: {name: signed, auth: iam}\n"
                         "executors: [{name: append, uses: tests.support.executors.Append}]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "faasflow", "serve", str(flow_file), "--port", "0",
                               "--workspace", str(tmp_path / "ws")], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True)
    try:
        assert server.stderr is not None
        lines = []
        for line in server.stderr:
            lines.append(line)
            if "serving on" in line:
                break
    finally:
        server.terminate()
        server.wait(30)
    warning = [line for line in lines if "warning" in line]
    assert warning and "`auth: iam`" in warning[0] and "does not check it" in warning[0], lines


def test_ping_signs_with_auth_iam(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``faasflow ping --auth iam`` sends a SigV4-signed GET /status (checked on a local server)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list[str] = []

    class Status(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("authorization", ""))
            body = b'{"name": "f", "ready": true, "version": "0", "backend": "x", "endpoints": [], "executors": []}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    server = HTTPServer(("127.0.0.1", 0), Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        from faasflow.cli import main

        code = main(["ping", f"http://127.0.0.1:{server.server_port}", "--auth", "iam", "--aws-region", "eu-west-1"])
    finally:
        server.shutdown()
    assert code == 0, capsys.readouterr()
    assert seen and seen[0].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in seen[0]
