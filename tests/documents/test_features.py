"""Unit tests for faasflow.features: stable, process-independent feature hashing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faasflow import Document, DocumentArray
from faasflow.features import feature_hashing, stable_hash, tokens

REPO = Path(__file__).resolve().parents[2]
TEXT = "The quick brown fox jumps over the lazy dog; the DOG sleeps. Ünïcode wörds ✓ 42"
TAGS = {"lang": "en", "year": 2024, "score": 0.5, "flag": True}

CHILD = """
import json, sys
from faasflow import Document
doc = Document(text=sys.argv[1], tags=json.loads(sys.argv[2]))
print(json.dumps(doc.embed_feature_hashing(n_dim=int(sys.argv[3])).embedding.tolist()))
"""


def vector_in_subprocess(text: str, tags: dict, n_dim: int, hash_seed: str) -> np.ndarray:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, text, json.dumps(tags), str(n_dim)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=True,
    )
    return np.array(json.loads(out.stdout), dtype=np.float32)


def test_vectors_are_identical_across_processes_and_hash_seeds():
    here = Document(text=TEXT, tags=TAGS).embed_feature_hashing(n_dim=64).embedding
    for seed in ("0", "12345"):
        there = vector_in_subprocess(TEXT, TAGS, 64, seed)
        np.testing.assert_array_equal(here, there)


def test_stable_hash_is_md5_based_and_pinned():
    # pinned: changing it would silently break every index built by an earlier version
    assert stable_hash("hello") == int.from_bytes(hashlib.md5(b"hello").digest()[:8], "little")
    assert stable_hash("hello") == 8514701317032132957  # md5("hello") starts 5d41402abc4b2a76
    assert 0 <= stable_hash("✓ unicode") < 2**64


@pytest.mark.parametrize("n_dim", [1, 8, 256, 1000])
def test_dimensions_and_dtype(n_dim):
    vector = feature_hashing(Document(text=TEXT, tags=TAGS), n_dim=n_dim)
    assert vector.shape == (n_dim,)
    assert vector.dtype == np.float32


def test_default_is_256_dims_and_embed_sets_it():
    doc = Document(text=TEXT)
    assert doc.embed_feature_hashing() is doc
    assert doc.embedding.shape == (256,)
    np.testing.assert_array_equal(doc.embedding, feature_hashing(doc))


def test_tokens_are_lowercased_words():
    assert tokens("Hello, WORLD! hello_there 42") == ["hello", "world", "hello_there", "42"]
    assert tokens("") == []


def test_token_counts_accumulate_with_a_sign():
    vector = feature_hashing(Document(text="apple apple apple"), n_dim=128)
    nonzero = np.flatnonzero(vector)
    assert len(nonzero) == 1
    assert abs(vector[nonzero[0]]) == 3.0


def test_case_and_punctuation_do_not_matter():
    a = feature_hashing(Document(text="Hello, world!"), n_dim=64)
    b = feature_hashing(Document(text="hello   WORLD"), n_dim=64)
    np.testing.assert_array_equal(a, b)
    assert np.count_nonzero(a) > 0


def test_word_order_does_not_matter_but_words_do():
    a = feature_hashing(Document(text="red green blue"), n_dim=512)
    b = feature_hashing(Document(text="blue red green"), n_dim=512)
    c = feature_hashing(Document(text="red green yellow"), n_dim=512)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_text_only_ignores_tags():
    with_tags = Document(text=TEXT, tags=TAGS)
    without = Document(text=TEXT)
    np.testing.assert_array_equal(
        feature_hashing(with_tags, fields=("text",)), feature_hashing(without, fields=("text",))
    )
    assert not np.array_equal(feature_hashing(with_tags), feature_hashing(without))


def test_tags_only_ignores_text():
    a = feature_hashing(Document(text="one", tags=TAGS), fields=("tags",))
    b = feature_hashing(Document(text="two", tags=TAGS), fields=("tags",))
    np.testing.assert_array_equal(a, b)
    assert np.count_nonzero(a) > 0
    assert not np.any(feature_hashing(Document(text="one"), fields=("tags",)))


def test_tag_values_are_hashed_into_the_key_column():
    n_dim = 1024
    vector = feature_hashing(Document(tags={"year": 2024}), n_dim=n_dim, fields=("tags",))
    nonzero = np.flatnonzero(vector)
    assert len(nonzero) == 1
    assert nonzero[0] == stable_hash("year") % n_dim
    assert abs(vector[nonzero[0]]) == 2024.0
    other = feature_hashing(Document(tags={"year": 1999}), n_dim=n_dim, fields=("tags",))
    assert not np.array_equal(vector, other)
    capped = feature_hashing(Document(tags={"year": 2024}), n_dim=n_dim, fields=("tags",), max_value=1000)
    assert abs(capped[nonzero[0]]) == 24.0  # 2024 % 1000


def test_string_tag_values_are_stable():
    a = feature_hashing(Document(tags={"lang": "en"}), fields=("tags",))
    b = feature_hashing(Document(tags={"lang": "en"}), fields=("tags",))
    c = feature_hashing(Document(tags={"lang": "fr"}), fields=("tags",))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unknown_field_is_an_error():
    with pytest.raises(ValueError, match="tensor"):
        feature_hashing(Document(text="x"), fields=("text", "tensor"))


def test_empty_document_is_a_zero_vector():
    assert not np.any(feature_hashing(Document(), n_dim=32))
    assert not np.any(feature_hashing(Document(text=""), n_dim=32))


def test_identical_text_has_jaccard_distance_zero():
    index = DocumentArray(
        Document(id=str(i), text=t)
        for i, t in enumerate(["the cat sat on the mat", "a dog in the fog", "completely different words here"])
    )
    index.apply(lambda d: d.embed_feature_hashing(fields=("text",)))
    query = Document(text="The cat sat on the mat!").embed_feature_hashing(fields=("text",))
    (found,) = index.find(query, metric="jaccard", limit=3)  # a Document query: a list of one (v1)
    assert found[0].id == "0"
    assert found[0].scores["jaccard"].value == 0.0
    assert all(d.scores["jaccard"].value > 0.0 for d in found[1:])
