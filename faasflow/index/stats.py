"""Running sums of a set of embeddings, from which their centroid, and their mean cosine
similarity to it, follow exactly.

For rows ``x``: ``total`` is the sum of the rows, ``unit_total`` the sum of the non-zero rows
each divided by its length. The centroid is ``c = total / count``, and the mean cosine of
the rows to it is ``unit_total . c / (nonzero * |c|)``. Sums add and subtract, so a shard keeps
them per segment (in the segment's header) and derives its own from its segments minus the
rows newer ones replaced or deleted, without reading every vector again.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

CANCELLED = 1e-6
"""A centroid shorter than this fraction of the rows' mean length is taken as zero: the rows
cancel out, and its direction would be the rounding error of the sums."""
CHUNK_BYTES = 16 << 20
"""Rows are summed in float64 blocks of about this size, so memory stays bounded."""
_F64 = np.dtype("<f8")


class NoCentroid(ValueError):
    """A similarity to the centroid is undefined; the message says why, for a status page."""


@dataclass(frozen=True)
class EmbeddingStats:
    """The sums of a set of embeddings (``count`` rows, ``nonzero`` of them non-zero)."""

    count: int
    nonzero: int
    norm_sum: float  # the sum of the rows' lengths: the scale a short centroid is judged against
    total: np.ndarray  # float64, dim (empty when ``count`` is 0 and no dimension is known)
    unit_total: np.ndarray  # float64, dim

    @classmethod
    def empty(cls, dim: int = 0) -> EmbeddingStats:
        zeros = np.zeros(dim, _F64)
        return cls(0, 0, 0.0, zeros, zeros.copy())

    @classmethod
    def of(cls, matrix: np.ndarray) -> EmbeddingStats:
        """The sums of ``matrix``'s rows, in float64 (so that later subtractions stay exact)."""
        rows, dim = (int(matrix.shape[0]), int(matrix.shape[1])) if matrix.ndim == 2 else (0, 0)
        total, unit = np.zeros(dim, _F64), np.zeros(dim, _F64)
        nonzero, norm_sum = 0, 0.0
        step = max(CHUNK_BYTES // max(dim * _F64.itemsize, 1), 1)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for start in range(0, rows, step):
                block = np.asarray(matrix[start : start + step], dtype=_F64)
                total += block.sum(axis=0)
                norms = np.sqrt(np.einsum("ij,ij->i", block, block))
                norm_sum += float(norms.sum())
                keep = norms > 0  # NaN rows fall out here, but their NaN stays in ``total``
                count = int(np.count_nonzero(keep))
                nonzero += count
                if count == len(block):
                    unit += (1.0 / norms) @ block
                elif count:
                    unit += (1.0 / norms[keep]) @ block[keep]
        return cls(rows, nonzero, norm_sum, total, unit)

    @property
    def dim(self) -> int:
        return int(self.total.shape[0])

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.norm_sum) and np.isfinite(self.total).all() and np.isfinite(self.unit_total).all())

    def __add__(self, other: EmbeddingStats) -> EmbeddingStats:
        if not other.dim and not other.count:
            return self
        if not self.dim and not self.count:
            return other
        return EmbeddingStats(self.count + other.count, self.nonzero + other.nonzero, self.norm_sum + other.norm_sum,
                              self.total + other.total, self.unit_total + other.unit_total)

    def __sub__(self, other: EmbeddingStats) -> EmbeddingStats:
        """What is left once ``other`` (a subset of these rows) is taken out."""
        if not other.count:
            return self
        return EmbeddingStats(self.count - other.count, self.nonzero - other.nonzero, self.norm_sum - other.norm_sum,
                              self.total - other.total, self.unit_total - other.unit_total)

    def centroid(self) -> np.ndarray:
        """The mean of the rows; NoCentroid when it has no direction."""
        return self.direction() * (float(np.linalg.norm(self.total)) / self.count)

    def direction(self) -> np.ndarray:
        """The centroid as a unit vector (the cosine only needs its direction); NoCentroid
        names why there is none: no rows, non-finite rows, only zero rows, rows that cancel."""
        found = self._direction
        if isinstance(found, str):
            raise NoCentroid(found)
        return found

    def similarity(self) -> float:
        """The mean cosine similarity of the (non-zero) rows to their centroid."""
        found = self._similarity
        if isinstance(found, str):
            raise NoCentroid(found)
        return found

    # Worked out once per set of sums (they are frozen): every query batch of a warm shard asks.
    @cached_property
    def _direction(self) -> np.ndarray | str:
        if self.count <= 0:
            return "the shard is empty: it has no centroid"
        if not self.finite:
            return "a stored embedding holds NaN or infinity: the centroid is undefined"
        if self.nonzero <= 0:
            return "every indexed embedding is the zero vector: the cosine is undefined"
        length = float(np.linalg.norm(self.total))
        if not length > CANCELLED * self.norm_sum / self.count:
            return "the indexed embeddings cancel out: their centroid is the zero vector"
        direction: np.ndarray = self.total / length
        return direction

    @cached_property
    def _similarity(self) -> float | str:
        direction = self._direction
        if isinstance(direction, str):
            return direction
        value = float(self.unit_total @ direction) / self.nonzero
        if not np.isfinite(value):
            return "the mean similarity to the centroid is not a finite number"
        return min(max(value, -1.0), 1.0)  # the sums' rounding must not step outside the cosine's range

    # --- in a segment's header ---

    def to_header(self) -> dict[str, Any] | None:
        """JSON for a segment header (the vectors as base64 of little-endian float64, exact);
        None for sums that are not finite: they are computed again from the vectors."""
        if not self.finite:
            return None
        return {"count": self.count, "nonzero": self.nonzero, "norm_sum": self.norm_sum,
                "total": _b64(self.total), "unit_total": _b64(self.unit_total)}

    @classmethod
    def from_header(cls, value: Any, rows: int, dim: int) -> EmbeddingStats | None:
        """The sums a header recorded, or None when absent or not what a segment of ``rows``
        rows of ``dim`` dimensions can have (they are then computed from the vectors)."""
        if not isinstance(value, Mapping):
            return None
        try:
            total, unit = _array(value["total"], dim), _array(value["unit_total"], dim)
            count, nonzero, norm_sum = int(value["count"]), int(value["nonzero"]), float(value["norm_sum"])
        except (KeyError, TypeError, ValueError):
            return None
        if total is None or unit is None or count != rows or not 0 <= nonzero <= rows:
            return None
        stats = cls(count, nonzero, norm_sum, total, unit)
        return stats if stats.finite else None


def mean_cosine(matrix: np.ndarray, direction: np.ndarray) -> float:
    """The mean cosine similarity of ``matrix``'s non-zero rows to the unit vector
    ``direction``; NoCentroid when a row is not finite, no row has a direction (zero rows
    are left out: they have none), or the result is not finite."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        rows = np.asarray(matrix, dtype=_F64)
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
        if not np.isfinite(norms).all():
            raise NoCentroid("a query holds NaN or infinity: the batch is not measured")
        keep = norms > 0
        kept = int(np.count_nonzero(keep))
        if not kept:
            raise NoCentroid("the query batch holds only zero vectors: the cosine is undefined")
        if kept < len(norms):  # the usual batch has no zero row: no copy
            rows, norms = rows[keep], norms[keep]
        value = float(((rows @ direction) / norms).sum()) / kept
    if not np.isfinite(value):
        raise NoCentroid("the query batch's similarity is not a finite number (NaN or infinity in a query)")
    return min(max(value, -1.0), 1.0)


def _b64(vector: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vector, dtype=_F64).tobytes()).decode("ascii")


def _array(text: Any, dim: int) -> np.ndarray | None:
    data = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    if len(data) != dim * _F64.itemsize:
        return None
    return np.frombuffer(data, dtype=_F64).astype(np.float64)
