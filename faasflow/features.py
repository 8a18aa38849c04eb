"""Feature hashing: a fixed-size vector from text tokens and tags, with no model.

Hashes are md5-based, never Python's salted ``hash()``, so a vector is the same in every
process (index in one Lambda container, query in another). Token hashes are memoised:
vocabularies repeat, and hashing is the featurizer's whole cost.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from faasflow.document import Document

_TOKEN = re.compile(r"\w+")


def stable_hash(value: str) -> int:
    """A 64-bit hash of a string that is the same in every process."""
    return int.from_bytes(hashlib.md5(value.encode("utf-8")).digest()[:8], "little")


@lru_cache(maxsize=1 << 18)
def _column(token: str, n_dim: int) -> tuple[int, float]:
    h = stable_hash(token)
    return h % n_dim, (1.0 if (h >> 63) == 0 else -1.0)


def _value_hash(value: Any, max_value: int) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value) % max_value
    return float(stable_hash(str(value)) % max_value)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def feature_hashing(
    doc: Document,
    n_dim: int = 256,
    fields: Iterable[str] = ("text", "tags"),
    max_value: int = 1_000_000,
) -> np.ndarray:
    """The hashed feature vector (float32, ``n_dim``) of a document's text and tags."""
    vector = np.zeros(n_dim, dtype=np.float32)
    for field in fields:
        if field == "text":
            if doc.text:
                for token in tokens(doc.text):
                    col, sign = _column(token, n_dim)
                    vector[col] += sign
        elif field == "tags":
            for key, value in doc.tags.items():
                col, sign = _column(str(key), n_dim)
                vector[col] += sign * _value_hash(value, max_value)
        else:
            raise ValueError(f"feature hashing supports the fields 'text' and 'tags', not {field!r}")
    return vector
