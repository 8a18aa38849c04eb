"""Columnar embeddings: a DocumentArray's embeddings as one 2-D matrix, built once.

Stacking thousands of embeddings on every search would cost more than the search itself,
so the stacked matrix is kept, and each member's ``embedding`` is rebound to a row view
of it: editing a row in place edits the matrix, and assigning a new embedding to any
member (or adding/removing members) invalidates the matrix in O(1). Statistics derived
from the matrix (norms) are dropped whenever a row or the matrix is handed out through
``Document.embedding`` / ``DocumentArray.embeddings``, since the caller may edit it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from faasflow.document import Document


class EmbeddingColumn:
    """The stacked embeddings of a fixed sequence of documents, plus derived statistics."""

    __slots__ = ("matrix", "valid", "_derived")

    def __init__(self, matrix: np.ndarray):
        self.matrix = matrix
        self.valid = True
        self._derived: dict[str, np.ndarray] = {}

    def invalidate(self) -> None:
        self.valid = False
        self._derived.clear()

    def exposed(self) -> None:
        """A view of the matrix was handed out and may be edited in place: drop the
        derived statistics so the next search recomputes them."""
        self._derived.clear()

    def derived(self, key: str, compute) -> np.ndarray:
        """A statistic of the matrix (norms, non-zero counts), computed once."""
        value = self._derived.get(key)
        if value is None:
            value = self._derived[key] = compute(self.matrix)
        return value

    @classmethod
    def stack(cls, docs: Sequence[Document]) -> EmbeddingColumn | None:
        """Stack the members' embeddings and bind each member to its row, or None if
        some member has no embedding."""
        rows = [d._embedding for d in docs]
        if any(r is None for r in rows):
            return None
        if rows and any(r.shape != rows[0].shape for r in rows):
            odd = next(d for d, r in zip(docs, rows) if r.shape != rows[0].shape)
            raise ValueError(
                f"document {odd.id!r} has an embedding of shape {odd._embedding.shape}, "
                f"the first document's is {rows[0].shape}: embeddings must all have one shape"
            )
        matrix = np.stack(rows) if rows else np.empty((0, 0), dtype=np.float32)
        if any(r.dtype != matrix.dtype for r in rows):
            # binding would silently change some members' dtype (float32 -> float64): use
            # the matrix for this caller only, and stack again next time
            column = cls(matrix)
            column.valid = False
            return column
        return cls.adopt(docs, matrix)

    @classmethod
    def adopt(cls, docs: Sequence[Document], matrix: np.ndarray) -> EmbeddingColumn:
        column = cls(matrix)
        for doc, row in zip(docs, matrix):
            doc._bind_column(column, row)
        return column
