"""Executors of the differential conformance suite: a small fixed set of classes, each
configured through ``uses_with``, each deterministic (its answer depends only on the
docs, the parameters, its name and its shard).

A request makes any of them fail on purpose through its own parameters:
``{name: {"fail": kind, "fail_shard": shard}}`` raises (``kind`` ``raise`` or ``key``) or
writes a tag value JSON cannot carry (``set``, ``object``, ``nan``, ``inf``, ``bigint``,
``intkey``, ``longdouble``). With no docs to write to, the refused value goes into the
returned results instead.

The module imports only faasflow and numpy: the emulator test copies it into a project
of its own.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from faasflow import Document, DocumentArray, Executor, requests

RAISES = ("raise", "key")
REFUSALS = ("set", "object", "nan", "inf", "bigint", "intkey", "longdouble")
EMBEDDING_DTYPES = ("float32", "float64", "int64", "float16")


class Opaque:
    """An arbitrary object: no mode can carry it."""


def refused_value(kind: str) -> Any:
    """A tag value of ``kind`` that JSON cannot carry, nested a little."""
    values = {
        "set": {1, 2},
        "object": Opaque(),
        "nan": float("nan"),
        "inf": float("-inf"),
        "bigint": 2**70,
        "intkey": {1: "a"},
        "longdouble": np.longdouble(1.5),
    }
    return {"deep": [0, values[kind]]}


def checksum(text: str) -> int:
    """A stable small number from text (CRC-32, as shard routing uses)."""
    return zlib.crc32(text.encode("utf-8"))


class Conformer(Executor):
    """What every executor here shares: its label, and failing when a request asks."""

    def label(self) -> str:
        return f"{self.runtime_args.name}:{self.runtime_args.shard_id}"

    def inject(self, docs: DocumentArray, parameters: dict[str, Any]) -> dict[str, Any] | None:
        """Fail as ``parameters`` ask; a refused value with no doc to hold it is returned
        as a result (the caller returns it)."""
        kind = parameters.get("fail")
        if kind is None or parameters.get("fail_shard", 0) != self.runtime_args.shard_id:
            return None
        if kind == "raise":
            raise ValueError(f"{self.label()} refuses {docs.ids[:3]}")
        if kind == "key":
            raise KeyError(f"{self.label()} lost {len(docs)} docs")
        if not docs:
            return {"bad": refused_value(kind)}
        docs[len(docs) // 2].tags["bad"] = refused_value(kind)
        return None


class Tagger(Conformer):
    """Every endpoint (a default method): edits docs in place, appending its label to
    ``tags[key]``; ``extras`` adds numpy scalars and arrays, bytes and a tuple."""

    def __init__(self, key: str = "path", extras: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.key = key
        self.extras = extras

    @requests
    def tag(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> dict | None:
        shard = self.runtime_args.shard_id
        for doc in docs:
            doc.tags.setdefault(self.key, []).append(self.label())
            if self.extras:
                doc.tags[f"x_{self.runtime_args.name}"] = {
                    "i": np.int64(shard * 7 + len(doc.id)),
                    "f": np.float32(shard) / np.float32(4),
                    "b": np.bool_(shard % 2),
                    "arr": np.arange(3, dtype=np.int32) + shard,
                    "raw": doc.id.encode("utf-8"),
                    "pair": (shard, self.runtime_args.name),
                }
        return self.inject(docs, parameters)


class Replacer(Conformer):
    """``/index`` and ``/search``: returns a new DocumentArray. ``fanout`` docs per input
    (new ids, or the same ids with ``keep_ids``), ``drop_odd`` drops docs whose id sums
    odd, ``reverse`` reverses the answer; ``share_matches`` gives the new docs the input's
    own matches list (one list shared by all of them) instead of a list each."""

    def __init__(self, fanout: int = 1, keep_ids: bool = False, drop_odd: bool = False, reverse: bool = False,
                 share_matches: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.fanout = fanout
        self.keep_ids = keep_ids
        self.drop_odd = drop_odd
        self.reverse = reverse
        self.share_matches = share_matches

    @requests(on=["/index", "/search"])
    def replace(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> DocumentArray | dict:
        out = DocumentArray()
        for doc in docs:
            if self.drop_odd and checksum(doc.id) % 2:
                continue
            for i in range(self.fanout):
                new = Document(id=doc.id if self.keep_ids else f"{doc.id}.{self.runtime_args.name}{i}",
                               text=f"{doc.text or ''}+{self.label()}", tags=dict(doc.tags),
                               embedding=doc.embedding, matches=self.matches_of(doc))
                new.tags["made_by"] = self.label()
                out.append(new)
        if self.reverse:
            out.reverse()
        failed = self.inject(out, parameters)
        return failed if failed is not None else out

    def matches_of(self, doc: Document) -> DocumentArray | list[Document] | None:
        if not doc._matches:
            return None
        return doc.matches if self.share_matches else list(doc.matches)


class Matcher(Conformer):
    """``/search``: ``k`` matches per doc scored by ``metric`` (a distance sorts ascending,
    ``dot`` descending); ``/index``: an embedding of ``dtype`` and two chunks."""

    def __init__(self, k: int = 2, metric: str = "cosine", dtype: str = "float32", **kwargs: Any):
        super().__init__(**kwargs)
        self.k = k
        self.metric = metric
        self.dtype = dtype

    @requests(on="/search")
    def search(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> dict | None:
        shard = self.runtime_args.shard_id
        for doc in docs:
            base = checksum(doc.id + self.runtime_args.name)
            doc.matches = [
                Document(id=f"{doc.id}/{self.runtime_args.name}{shard}-{i}", text=f"m{i}",
                         scores={self.metric: ((base + 13 * shard + 5 * i) % 64) / 8})
                for i in range(self.k)
            ]
        return self.inject(docs, parameters)

    @requests(on="/index")
    def index(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> dict | None:
        for doc in docs:
            seed = checksum(doc.id) % 97
            doc.embedding = (np.arange(4) + seed).astype(self.dtype)
            doc.chunks = [Document(id=f"{doc.id}#c{i}", text=f"chunk {i}",
                                   embedding=np.full(2, i + seed, dtype=self.dtype)) for i in range(2)]
        return self.inject(docs, parameters)


class Reporter(Conformer):
    """``/index``, ``/search`` and a default method: returns a dict of results (landing in
    ``parameters['__results__']``), leaving the docs as they are."""

    @requests(on=["/index", "/search"])
    def report(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> dict:
        failed = self.inject(docs, parameters)
        if failed is not None:
            return failed
        return {
            "n": np.int64(len(docs)),
            "ids": docs.ids,
            "shard": self.runtime_args.shard_id,
            "keys": sorted(k for k in parameters if isinstance(k, str)),
            "arr": np.arange(2, dtype=np.float32) / 2,
        }

    @requests
    def other(self, docs: DocumentArray, parameters: dict[str, Any], **kwargs: Any) -> dict | None:
        failed = self.inject(docs, parameters)
        return failed if failed is not None else {"seen": len(docs)}


class Joiner(Conformer):
    """``/search`` and ``/index``: records how many inputs it joins and their sizes."""

    @requests(on=["/index", "/search"])
    def join(self, docs: DocumentArray, parameters: dict[str, Any], docs_matrix: Any = None,
             **kwargs: Any) -> dict | None:
        sizes = [len(m) for m in docs_matrix] if docs_matrix else [len(docs)]
        for doc in docs:
            doc.tags["joined"] = {"by": self.label(), "sizes": sizes}
        return self.inject(docs, parameters)


CLASSES: dict[str, type[Conformer]] = {
    cls.__name__: cls for cls in (Tagger, Replacer, Matcher, Reporter, Joiner)
}
