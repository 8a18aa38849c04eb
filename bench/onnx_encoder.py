"""OnnxEncoder against the same ONNX model in a bare onnxruntime loop, plus start-up costs.

* throughput on the CPU at batch 1, 32 and 128 (docs/s): an embedded Flow with the
  encoder (one request per batch: posting, engine, executor, pooling, normalization)
  against a loop of tokenize -> ``session.run`` -> mean-pool -> normalize on the same
  batches; runs interleave, ``--repeats`` of each: best-of docs/s, and the median ratio of
  neighbouring runs (goal: faasflow's overhead <= 5%);
* model load time in a fresh process: ``OnnxEncoder()`` (import included) against a bare
  ``InferenceSession`` plus tokenizer, median of ``--runs``;
* cold-start init of the Lambda image-packaged encoder: the image rehearsed without
  Docker (``faasflow.deploy.rehearsal``) and its handler module imported as the Lambda
  runtime does, in a fresh process on the image's own env, median of ``--runs``; its
  first invocation too.

Needs the real model (``make model``).

    python bench/onnx_encoder.py [--docs 512] [--repeats 7] [--runs 5] [--no-image]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from examples.sharded_search.corpus import write_corpus  # noqa: E402
from faasflow import Document, DocumentArray, Flow  # noqa: E402
from faasflow.executors import OnnxEncoder  # noqa: E402
from faasflow.executors.model_files import DEFAULT_MODEL, ModelNotFoundError, resolve_model  # noqa: E402

BATCHES = (1, 32, 128)
LOAD_ENCODER = """
import time
started = time.perf_counter()
from faasflow.executors import OnnxEncoder
imported = time.perf_counter()
encoder = OnnxEncoder(model={model!r}, device="cpu")
print(imported - started, time.perf_counter() - imported)
"""
LOAD_BARE = """
import time
started = time.perf_counter()
import onnxruntime
from tokenizers import Tokenizer
imported = time.perf_counter()
session = onnxruntime.InferenceSession({onnx!r}, providers=["CPUExecutionProvider"])
tokenizer = Tokenizer.from_file({tokenizer!r})
print(imported - started, time.perf_counter() - imported)
"""


class BareLoop:
    """The model as a user would run it without faasflow, with the same pre- and post-processing."""

    def __init__(self, folder: Path, max_length: int):
        import onnxruntime
        from tokenizers import Tokenizer

        self.session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts: list[str], batch: int) -> np.ndarray:
        rows = []
        for start in range(0, len(texts), batch):
            encodings = self.tokenizer.encode_batch(texts[start : start + batch])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            types = np.array([e.type_ids for e in encodings], dtype=np.int64)
            (hidden,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
            weights = mask.astype(np.float32)[:, :, None]
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            rows.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(rows)


def throughput(folder: Path, texts: list[str], repeats: int) -> list[dict]:
    bare = BareLoop(folder, 256)
    results = []
    for batch in BATCHES:
        count = min(len(texts), 128 if batch == 1 else len(texts))
        sample = texts[:count]
        flow = Flow().add(uses=OnnxEncoder, name="encoder", uses_with={"model": str(folder), "batch_size": batch,
                                                                        "device": "cpu"})
        with flow:
            flow.post("/encode", [Document(text=t) for t in sample[:batch]], request_size=batch)  # warm up
            bare.embed(sample[:batch], batch)
            ours, theirs = [], []
            for repeat in range(repeats):  # interleaved, each first in turn: both see the same machine
                for side in ((0, 1) if repeat % 2 == 0 else (1, 0)):
                    started = time.perf_counter()
                    if side == 0:
                        out = flow.post("/encode", DocumentArray(Document(text=t) for t in sample), request_size=batch)
                        ours.append(time.perf_counter() - started)
                    else:
                        reference = bare.embed(sample, batch)
                        theirs.append(time.perf_counter() - started)
        assert np.abs(out.embeddings - reference).max() < 1e-4, "faasflow and the bare loop disagree"
        # the ratio of each pair of neighbouring runs, then their median: robust to the load
        # of a shared machine drifting during the run, which best-of figures are not
        paired = statistics.median(t / o for o, t in zip(ours, theirs))
        results.append({"batch": batch, "docs": count, "faasflow_docs_per_s": count / min(ours),
                        "bare_docs_per_s": count / min(theirs), "ratio": paired})
    return results


def fresh_process_seconds(code: str, runs: int, python: str = sys.executable,
                          env: dict | None = None) -> tuple[float, float]:
    """Median (import, load) seconds of ``code`` in fresh interpreters."""
    imports, loads = [], []
    for _ in range(runs):
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
        imported, loaded = (float(x) for x in out.stdout.strip().splitlines()[-1].split())
        imports.append(imported)
        loads.append(loaded)
    return statistics.median(imports), statistics.median(loads)


def image_cold_start(folder: Path, runs: int) -> dict | None:
    """Init and first invocation of the rehearsed Lambda image handler, in fresh processes."""
    from faasflow.deploy.layers import write
    from faasflow.deploy.rehearsal import command, image_env, rehearse
    from faasflow.deploy.tools import ToolsUnavailable
    from faasflow.testing.events import gateway_event

    try:
        venv = image_env("lambda")
    except ToolsUnavailable as exc:
        print(f"(no image env: {exc})", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        (project / "functions").mkdir(parents=True)
        (project / ".faasflow" / "models").mkdir(parents=True)
        os.symlink(folder, project / ".faasflow" / "models" / DEFAULT_MODEL)
        flow = Flow(name="bench").add(uses="faasflow.executors.onnx_encoder.OnnxEncoder", name="encoder",
                                      package="image")
        write(flow.plan, project)
        rehearsal = rehearse(project / "infra/images/encoder.Dockerfile", project, Path(tmp) / "image")
        docs = DocumentArray(Document(text=t) for t in write_corpus(Path(tmp) / "c.txt", 32).read_text().split("\n")
                             if t)
        event = json.dumps(gateway_event(flow.plan, "/index", "encoder", docs))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FAASFLOW_"))}
        env.update(rehearsal.env, PYTHONPATH=rehearsal.env["LAMBDA_TASK_ROOT"], FAASFLOW_EXECUTOR="encoder",
                   FAASFLOW_USES="faasflow.executors.onnx_encoder.OnnxEncoder", FAASFLOW_USES_WITH="{}",
                   FAASFLOW_STORAGE_URL=str(Path(tmp) / "state"), FAASFLOW_PAYLOAD_URL=str(Path(tmp) / "payloads"))
        inits, firsts = [], []
        for _ in range(runs):
            out = subprocess.run(command(rehearsal, venv), input=event, capture_output=True, text=True, check=True,
                                 cwd=rehearsal.workdir, env=env)
            init, first = (json.loads(line) for line in out.stdout.splitlines())
            assert "result" in first, first
            inits.append(init["init_seconds"])
            firsts.append(first["seconds"])
        baked = rehearsal.path(f"/opt/faasflow/models/{DEFAULT_MODEL}")
        bare = fresh_process_seconds(LOAD_BARE.format(onnx=str(baked / "model.onnx"),
                                                      tokenizer=str(baked / "tokenizer.json")),
                                     runs, str(venv / "bin" / "python"), env)
    return {"init_s": statistics.median(inits), "first_invocation_s": statistics.median(firsts),
            "bare_load_s": sum(bare), "python": str(venv / "bin" / "python")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-image", action="store_true", help="skip the image cold start")
    args = parser.parse_args(argv)
    try:
        folder = resolve_model(DEFAULT_MODEL).folder
    except ModelNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        texts = [t for t in write_corpus(Path(tmp) / "corpus.txt", args.docs).read_text().split("\n") if t]
    import onnxruntime

    print(f"model {DEFAULT_MODEL} ({folder}), onnxruntime {onnxruntime.__version__}, CPU, {os.cpu_count()} cores")
    print(f"\nthroughput on the CPU (docs/s, best of {args.repeats})")
    print("ratio: faasflow's speed over the bare loop's, median over pairs of neighbouring runs")
    print(f"{'batch':>6} {'docs':>6} {'faasflow':>10} {'bare loop':>10} {'ratio':>7} {'overhead':>9}")
    for row in throughput(folder, texts, args.repeats):
        ratio = row["ratio"]
        print(f"{row['batch']:>6} {row['docs']:>6} {row['faasflow_docs_per_s']:>10.1f} {row['bare_docs_per_s']:>10.1f}"
              f" {ratio:>7.3f} {100 * (1 / ratio - 1):>8.1f}%")
    ours = fresh_process_seconds(LOAD_ENCODER.format(model=str(folder)), args.runs)
    bare = fresh_process_seconds(LOAD_BARE.format(onnx=str(folder / "model.onnx"),
                                                  tokenizer=str(folder / "tokenizer.json")), args.runs)
    print(f"\nmodel load in a fresh process (median of {args.runs}, ms): "
          f"OnnxEncoder(): import {ours[0] * 1e3:.0f} + load {ours[1] * 1e3:.0f}; "
          f"bare onnxruntime: import {bare[0] * 1e3:.0f} + session and tokenizer {bare[1] * 1e3:.0f}; "
          f"load ratio {ours[1] / bare[1]:.2f}")
    if not args.no_image:
        cold = image_cold_start(folder, args.runs)
        if cold is not None:
            print(f"\nLambda image cold start, rehearsed (median of {args.runs}, {cold['python']}):\n"
                  f"  handler init (imports + model load): {cold['init_s'] * 1e3:.0f} ms; bare onnxruntime import, "
                  f"session and tokenizer on the same env: {cold['bare_load_s'] * 1e3:.0f} ms; "
                  f"first invocation (32 docs): {cold['first_invocation_s'] * 1e3:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
