"""The GPU check: OnnxEncoder on CUDAExecutionProvider against the CPU, on a machine with a GPU.

Asserts that CUDA really runs the model (``device='cuda'`` refuses anything else), that
its embeddings equal the CPU's within 1e-3, and prints docs/s of both at batch 32 and 256.
Needs onnxruntime-gpu (``pip install onnxruntime-gpu==1.31.1`` in place of onnxruntime,
CUDA 13 and cuDNN 9) and the model (``make model``). Where no GPU is usable it says so and
exits 2; CI has none.

    python bench/onnx_gpu.py [--docs 4096]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from examples.sharded_search.corpus import write_corpus  # noqa: E402
from faasflow.executors import OnnxEncoder  # noqa: E402
from faasflow.executors.onnx_sessions import CUDA, ProviderUnavailableError  # noqa: E402

BATCHES = (32, 256)


def docs_per_second(encoder: OnnxEncoder, texts: list[str], batch: int, repeats: int = 3) -> tuple[float, np.ndarray]:
    encoder.embed_texts(texts[:batch], batch)  # warm up (CUDA kernels, memory arenas)
    best, rows = float("inf"), np.empty(0)
    for _ in range(repeats):
        started = time.perf_counter()
        rows = encoder.embed_texts(texts, batch)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=4096)
    args = parser.parse_args(argv)
    try:
        gpu = OnnxEncoder(device="cuda")
    except ProviderUnavailableError as exc:
        print(f"no GPU check here: {exc}", file=sys.stderr)
        return 2
    assert gpu.model.provider == CUDA, gpu.status()
    cpu = OnnxEncoder(device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        texts = [t for t in write_corpus(Path(tmp) / "corpus.txt", args.docs).read_text().split("\n") if t]
    print(f"{len(texts)} docs; GPU: {gpu.status()}")
    print(f"{'batch':>6} {'CPU docs/s':>11} {'CUDA docs/s':>12} {'speed-up':>9} {'max |diff|':>11}")
    for batch in BATCHES:
        cpu_rate, cpu_rows = docs_per_second(cpu, texts[: min(len(texts), 1024)], batch, repeats=1)
        gpu_rate, gpu_rows = docs_per_second(gpu, texts, batch)
        difference = float(np.abs(gpu_rows[: len(cpu_rows)] - cpu_rows).max())
        assert difference <= 1e-3, f"CUDA and CPU embeddings differ by {difference:.2e} at batch {batch}"
        print(f"{batch:>6} {cpu_rate:>11.1f} {gpu_rate:>12.1f} {gpu_rate / cpu_rate:>8.1f}x {difference:>11.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
