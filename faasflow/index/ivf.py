"""The inverted-file (IVF) index of a shard: centroids, list assignment and 8-bit codes.

A shard's vectors are split into ``nlist`` lists by their nearest centroid (k-means on a
sample of the shard's rows, numpy only); a search scores the query against the centroids
and reads only the ``nprobe`` nearest lists. Within a list, rows are scanned on a compact
code (one byte a dimension: per-dimension scalar quantization over the range seen in
training) and the best candidates are re-ranked on their float32 vectors.

The centroids and the quantizer's range are one immutable object (``CentroidSet``) beside
the segments, referenced from the manifest by key with its size and CRC-32; a segment
records the key of the set its lists were assigned to.

Layout of the object (little-endian)::

    b"FFIVF01\\n" | u32 header length | header (JSON) | centroids f32 (nlist x dim) | low f32 (dim) | step f32 (dim)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import orjson

MAGIC = b"FFIVF01\n"
_PREFIX = struct.Struct("<8sI")
F32 = np.dtype("<f4")
SAMPLE_PER_LIST = 64
"""Rows of the training sample per list (faiss warns below 39 and samples at most 256;
measured on 1M clustered rows with 4,096 lists, 40 a list left the lists less even: 0.95
recall took 55% more rows scanned than with 64)."""
MSE_ROWS = 65536
"""Rows (drawn apart from the training sample where the shard has enough) whose mean
squared distance to their centroids is the set's ``mse``, the yardstick of drift."""
KMEANS_ITERATIONS = 10
"""Lloyd iterations (faiss trains an IVF quantizer with 10)."""
UNIT_TOLERANCE = 1e-3
"""Rows whose norms are all this close to 1 are treated as normalised embeddings."""
ASSIGN_CELLS = 1 << 23
"""Rows are assigned in blocks of this many (row, list) scores (a 32 MB float32 tile)."""
CODE_ROWS = 16384
"""Rows quantized at a time."""
RANGE_MARGIN = 0.05
"""The quantizer's range is the sample's, widened by this fraction on each side, so that
rows written later rarely fall outside it (those are clipped: only their code is rougher;
re-ranking on float32 keeps the answer's scores exact)."""
PROBE_METRICS = frozenset({"cosine", "dot", "euclidean", "sqeuclidean"})
"""Metrics an approximate search serves; any other (jaccard) is always exact."""


class CentroidsDamaged(ValueError):
    """A centroid set's bytes are not what its manifest recorded, or not a centroid set."""


def default_nlist(rows: int) -> int:
    """About four times the square root of the rows, as a power of two from 16 to 4096
    (faiss's guidance is 4 to 16 times the square root). Measured on 1M clustered rows:
    recall@10 0.97 at nprobe 16 with 4096 lists, against 0.94 at nprobe 32 with 2048 and
    0.92 with 1024; more lists cost more to train (k-means on 64 rows a list)."""
    target = max(4 * int(np.sqrt(max(rows, 1))), 16)
    return int(min(4096, 1 << int(round(np.log2(target)))))


@dataclass(frozen=True)
class CentroidSet:
    """Trained centroids and the quantizer's range; ``mse``: the training rows' mean squared
    distance to their centroid, the yardstick of drift."""

    centroids: np.ndarray  # float32, nlist x dim
    low: np.ndarray  # float32, dim: code -128 decodes to low
    step: np.ndarray  # float32, dim: one code step
    trained_rows: int
    mse: float

    @property
    def nlist(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    @cached_property
    def half_sq_norms(self) -> np.ndarray:
        return 0.5 * np.einsum("ij,ij->i", self.centroids, self.centroids)

    # --- the stored object ---

    def encode(self) -> bytes:
        header = orjson.dumps({"nlist": self.nlist, "dim": self.dim, "trained_rows": self.trained_rows,
                               "mse": self.mse})
        return b"".join([_PREFIX.pack(MAGIC, len(header)), header, np.ascontiguousarray(self.centroids, F32).data,
                         np.ascontiguousarray(self.low, F32).data, np.ascontiguousarray(self.step, F32).data])

    @classmethod
    def decode(cls, data: bytes) -> CentroidSet:
        try:
            magic, length = _PREFIX.unpack_from(data)
            if magic != MAGIC:
                raise ValueError("not a faasflow centroid set")
            header = orjson.loads(data[_PREFIX.size : _PREFIX.size + length])
            nlist, dim = int(header["nlist"]), int(header["dim"])
            # copied: a view at the header's odd offset would be unaligned, and numpy's
            # products fall back from BLAS to a loop ten times slower on unaligned arrays
            body = np.frombuffer(data, F32, offset=_PREFIX.size + length).copy()
            if len(body) != (nlist + 2) * dim:
                raise ValueError(f"{len(body)} values for {nlist} centroids of dimension {dim}")
            return cls(body[: nlist * dim].reshape(nlist, dim), body[nlist * dim : (nlist + 1) * dim],
                       body[(nlist + 1) * dim :], int(header["trained_rows"]), float(header["mse"]))
        except (struct.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CentroidsDamaged(str(exc)) from None

    def record(self, data: bytes) -> dict[str, Any]:
        """What the manifest keeps of the stored object ``data`` (this set encoded)."""
        return {"size": len(data), "crc32": zlib.crc32(data), "nlist": self.nlist, "rows": self.trained_rows,
                "mse": self.mse}

    # --- assignment and codes ---

    def assign(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's nearest centroid (int32) and squared distance to it (float32)."""
        return nearest(matrix, self.centroids, self.half_sq_norms)

    def codes(self, matrix: np.ndarray) -> np.ndarray:
        """The rows' int8 codes: ``round((x - low) / step) - 128``, clipped."""
        out = np.empty(matrix.shape, np.int8)
        for start in range(0, len(matrix), CODE_ROWS):
            block = (matrix[start : start + CODE_ROWS] - self.low) / self.step
            np.rint(block, out=block)
            np.clip(block, 0, 255, out=block)
            block -= 128
            out[start : start + len(block)] = block
        return out


def nearest(matrix: np.ndarray, centroids: np.ndarray, half_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid by L2, in blocks: argmax of ``x.c - |c|^2 / 2``."""
    rows = len(matrix)
    lists = np.empty(rows, np.int32)
    dists = np.empty(rows, np.float32)
    step = max(256, ASSIGN_CELLS // max(len(centroids), 1))
    for start in range(0, rows, step):
        block = np.ascontiguousarray(matrix[start : start + step], dtype=F32)
        scores = block @ centroids.T
        scores -= half_sq
        best = np.argmax(scores, axis=1)
        top = scores[np.arange(len(block)), best]
        lists[start : start + len(block)] = best
        dists[start : start + len(block)] = np.maximum(np.einsum("ij,ij->i", block, block) - 2.0 * top, 0.0)
    return lists, dists


def train(matrix: np.ndarray, nlist: int | None = None, seed: int = 0,
          iterations: int = KMEANS_ITERATIONS) -> CentroidSet:
    """k-means (Lloyd) on a sample of ``matrix``'s rows (spherical when they are all of unit
    length); an emptied list is re-seeded by splitting the largest one, as faiss does. The
    mse is measured on ``MSE_ROWS`` rows outside the sample (all of them, in a shard smaller
    than that)."""
    rows, dim = matrix.shape
    nlist = min(nlist or default_nlist(rows), rows)
    rng = np.random.default_rng(seed)
    take = min(rows, nlist * SAMPLE_PER_LIST)
    chosen = np.sort(rng.choice(rows, take, replace=False)) if take < rows else np.arange(rows)
    sample = np.ascontiguousarray(matrix[chosen], dtype=F32)
    centroids = sample[rng.choice(take, nlist, replace=False)].copy()
    # Unit-length rows (normalised embeddings, the usual case) get spherical k-means: unit
    # centroids. Plain means of unit rows are shorter the more a list spreads, and the
    # nearest-by-L2 rule then favours the widest lists: measured on 100k clustered rows
    # with 1,024 lists, queries probed lists 2.6 times the mean size for the same recall.
    sample_norms = np.sqrt(np.einsum("ij,ij->i", sample, sample))
    spherical = bool(len(sample)) and bool(np.all(np.abs(sample_norms - 1.0) < UNIT_TOLERANCE))
    for _ in range(iterations):
        lists, _ = nearest(sample, centroids, 0.5 * np.einsum("ij,ij->i", centroids, centroids))
        counts = np.bincount(lists, minlength=nlist)
        order = np.argsort(lists, kind="stable")
        occupied = np.flatnonzero(counts)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[occupied]
        centroids[occupied] = np.add.reduceat(sample[order], starts, axis=0) / counts[occupied, None]
        for empty in np.flatnonzero(counts == 0):  # split the largest list in two
            largest = int(np.argmax(counts))
            noise = rng.standard_normal(dim).astype(F32) * 1e-3 * (np.abs(centroids[largest]).mean() + 1e-12)
            centroids[empty] = centroids[largest] + noise
            centroids[largest] -= noise
            counts[largest] //= 2
            counts[empty] = counts[largest]
        if spherical:
            norms = np.sqrt(np.einsum("ij,ij->i", centroids, centroids))
            centroids /= np.where(norms > 0, norms, 1.0)[:, None]
    low, high = sample.min(axis=0), sample.max(axis=0)
    margin = (high - low) * RANGE_MARGIN
    low, high = low - margin, high + margin
    step = np.asarray(np.maximum((high - low) / np.float32(255.0), np.float32(1e-12)), dtype=F32)
    trained = CentroidSet(centroids.astype(F32), low.astype(F32), step, rows, 0.0)
    # measured on rows k-means did not fit where there are enough: later rows are compared with it
    unseen = np.setdiff1d(np.arange(rows), chosen, assume_unique=True) if take < rows else chosen
    measured = np.sort(rng.choice(unseen, min(len(unseen), MSE_ROWS), replace=False))
    _, dists = trained.assign(np.ascontiguousarray(matrix[measured], dtype=F32))
    return CentroidSet(trained.centroids, trained.low, trained.step, rows, float(dists.mean()) if rows else 0.0)


def probe(queries: np.ndarray, centroids: CentroidSet, metric: str, nprobe: int) -> np.ndarray:
    """The ``nprobe`` lists each query reads (queries x nprobe, int): the nearest centroids
    by L2, the criterion rows were assigned by (for ``dot`` and ``cosine`` the query is
    normalised first: the lists of the rows most similar in direction)."""
    nprobe = min(nprobe, centroids.nlist)
    if nprobe >= centroids.nlist:
        return np.broadcast_to(np.arange(centroids.nlist), (len(queries), centroids.nlist))
    normalise = metric in ("dot", "cosine")
    if len(queries) == 1:  # one query: vector operations, a few microseconds each
        query = queries[0]
        if normalise:
            norm = float(np.sqrt(query @ query))
            query = query * np.float32(1.0 / norm) if norm > 0 else query
        scores = centroids.centroids @ query
        scores -= centroids.half_sq_norms
        return np.argpartition(-scores, nprobe - 1)[None, :nprobe]
    if normalise:
        norms = np.sqrt(np.einsum("ij,ij->i", queries, queries))
        norms[norms == 0] = 1.0
        queries = queries / norms[:, None]
    scores = queries @ centroids.centroids.T
    scores -= centroids.half_sq_norms
    return np.argpartition(-scores, nprobe - 1, axis=1)[:, :nprobe]
