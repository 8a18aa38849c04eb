"""The reference app on AWS: what one /query costs, how fast functions start, how big they are.

* Lambda invocations and state transitions per request, per endpoint, counted on the
  generated state machine's success path (goal for /query: one invocation per stage and
  shard, plus one for the gateway);
* init time of the executor handler module and of the gateway module: import plus
  construction in a fresh interpreter, median of 10 (goals 300 ms and 600 ms);
* sizes of the layers and function packages that `sam build` produces (goal: runtime
  layer <= 50 MB zipped).

    python bench/serverless.py [--runs 10] [--no-sizes]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faasflow import Flow  # noqa: E402
from faasflow.compiler.asl import compile_asl  # noqa: E402
from faasflow.compiler.layout import FAASFLOW_LAYER_DIR  # noqa: E402
from faasflow.compiler.template import gateway_config  # noqa: E402

HANDLER_INIT = """
import time
started = time.perf_counter()
import faasflow.runtime.handler as handler
handler.runtime()
print(time.perf_counter() - started)
"""
GATEWAY_INIT = """
import time
started = time.perf_counter()
import faasflow.runtime.gateway as gateway
gateway.build_handler()
print(time.perf_counter() - started)
"""


def success_path(asl: dict, endpoint: str) -> tuple[int, int]:
    """(Lambda invocations, state transitions) of a successful run of ``endpoint``."""
    states = asl["States"]
    choice = states["route"]
    name = next((c["Next"] for c in choice["Choices"] if c["StringEquals"] == endpoint), choice["Default"])
    invocations, transitions = 0, 1  # the route choice

    def run(state_name: str, table: dict) -> None:
        nonlocal invocations, transitions
        while state_name:
            state = table[state_name]
            transitions += 1
            if state["Type"] == "Task":
                invocations += 1
            elif state["Type"] == "Parallel":
                for branch in state["Branches"]:
                    run(branch["StartAt"], branch["States"])
            if state["Type"] == "Choice":
                state_name = state["Default"]  # no error found
            else:
                state_name = None if state.get("End") else state["Next"]

    run(name, states)
    return invocations, transitions


def init_seconds(code: str, env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT / "functions", check=True,
                             capture_output=True, text=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def zipped_size(folder: Path) -> tuple[int, int]:
    """(unzipped bytes, zipped bytes) of a folder packaged as Lambda zips it."""
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(folder).as_posix())
    return unzipped, buffer.tell()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-sizes", action="store_true", help="skip `sam build` and the package sizes")
    args = parser.parse_args()

    flow = Flow.load_config(ROOT / "orchestrator" / "flow.yml")
    asl = compile_asl(flow.plan)
    print("per request (success path of the generated state machine; +1 invocation for the gateway):")
    print(f"  {'endpoint':<10} {'invocations':>12} {'transitions':>12}")
    for endpoint in ("/index", "/query", "/count"):
        invocations, transitions = success_path(asl, endpoint)
        print(f"  {endpoint:<10} {invocations + 1:>12} {transitions:>12}")
    shards = sum(s.shards for s in flow.plan.executors)
    print(f"  goal for /query: <= {shards} executor invocations (one per stage and shard) + 1 for the gateway")

    with tempfile.TemporaryDirectory() as workspace:
        base = {k: v for k, v in os.environ.items() if not k.startswith("FAASFLOW_")}
        base["PYTHONPATH"] = str(ROOT)
        handler_env = {**base, "AWS_LAMBDA_FUNCTION_NAME": "bench", "FAASFLOW_EXECUTOR": "db",
                       "FAASFLOW_USES": "doc_store.DocStore", "FAASFLOW_SHARD": "1", "FAASFLOW_SHARDS": "3",
                       "FAASFLOW_STORAGE_URL": workspace, "FAASFLOW_WORKSPACE": workspace}
        gateway_env = {**base, "FAASFLOW_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:000000000000:stateMachine:bench",
                       "FAASFLOW_GATEWAY_CONFIG": json.dumps(gateway_config(flow.plan)),
                       "AWS_DEFAULT_REGION": "us-east-1"}
        handler_times = init_seconds(HANDLER_INIT, handler_env, args.runs)
        gateway_times = init_seconds(GATEWAY_INIT, gateway_env, args.runs)
    print(f"\ninit in a fresh interpreter (import + construction), median of {args.runs}:")
    print(f"  executor handler (DocStore shard): {statistics.median(handler_times) * 1e3:7.0f} ms  (goal <= 300 ms)")
    print(f"  gateway (FastAPI app + Mangum):    {statistics.median(gateway_times) * 1e3:7.0f} ms  (goal <= 600 ms)")

    if args.no_sizes:
        return
    from faasflow.deploy.layers import write
    from faasflow.deploy.sam import build

    write(flow.plan, ROOT)
    build(ROOT)
    built = ROOT / ".aws-sam" / "build"
    print("\npackages as `sam build` made them (unzipped / zipped):")
    folders = {name: built / name for name in ("RuntimeLayer", "GatewayLayer", "DbShard0Function", "GatewayFunction")}
    folders["FaasflowLayer"] = ROOT / FAASFLOW_LAYER_DIR  # prebuilt: sam packages the folder itself
    for name, folder in folders.items():
        unzipped, zipped = zipped_size(folder)
        goal = "  (goal <= 50 MB zipped)" if name == "RuntimeLayer" else ""
        print(f"  {name:<18} {unzipped / 1e6:8.2f} MB / {zipped / 1e6:6.2f} MB{goal}")


if __name__ == "__main__":
    main()
