"""Tiny ONNX models made with ``onnx.helper`` at test time (no download, milliseconds),
each with the numpy computation it stands for, so tests know the exact answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far", "away"]
DIM = 6


def embedding_table(seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((len(VOCAB), DIM)).astype(np.float32)


def write_tokenizer(path: Path) -> Path:
    """A word-level tokenizer.json over VOCAB, adding [CLS] ... [SEP] as BERT does."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.save(str(path))
    return path


def token_ids(text: str, max_length: int = 512) -> list[int]:
    """What write_tokenizer's tokenizer makes of ``text`` (truncation keeps [SEP])."""
    words = [VOCAB.index(w) if w in VOCAB else 1 for w in text.lower().split()]
    return [2, *words[: max_length - 2], 3]


def text_model(folder: Path, manifest: dict | None = None, with_type_ids: bool = True) -> Path:
    """token_embeddings = table[input_ids] (+ 0 * token_type_ids): a lookup, so the encoder's
    pooling and normalization are all that is left to check."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    table = numpy_helper.from_array(embedding_table(), name="table")
    nodes = [helper.make_node("Gather", ["table", "input_ids"], ["looked_up"], axis=0)]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
    ]
    if with_type_ids:
        inputs.append(helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "tokens"]))
    # the mask and type ids are inputs the model takes but does not need: identity on the lookup
    nodes.append(helper.make_node("Identity", ["looked_up"], ["token_embeddings"]))
    graph = helper.make_graph(
        nodes,
        "tiny_text",
        inputs,
        [helper.make_tensor_value_info("token_embeddings", TensorProto.FLOAT, ["batch", "tokens", DIM])],
        initializer=[table],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    write_tokenizer(folder / "tokenizer.json")
    if manifest is not None:
        (folder / "faasflow-model.json").write_text(json.dumps({"name": folder.name, **manifest}))
    return folder


def expected_text_embeddings(texts: list[str], normalize: bool = True, max_length: int = 512,
                             pooling: str = "mean") -> np.ndarray:
    table = embedding_table()
    rows = []
    for text in texts:
        vectors = table[token_ids(text, max_length)]
        row = vectors[0] if pooling == "cls" else vectors.mean(axis=0)
        rows.append(row / np.linalg.norm(row) if normalize else row)
    return np.array(rows, dtype=np.float32)


def projection(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((4, 3)).astype(np.float32)


def tensor_model(path: Path, sequence: bool = False) -> Path:
    """y = x @ W for x of shape (batch, 4), or (batch, n, 4) with ``sequence`` (then y is
    3-D and the encoder pools it)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path.parent.mkdir(parents=True, exist_ok=True)
    x_shape = ["batch", "n", 4] if sequence else ["batch", 4]
    y_shape = ["batch", "n", 3] if sequence else ["batch", 3]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "tiny_tensor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        initializer=[numpy_helper.from_array(projection(), name="W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
